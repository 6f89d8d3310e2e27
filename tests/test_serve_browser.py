"""vggcourse.serve's page in a real browser: headless Chromium (Selenium) opens the page a real uvicorn
serves, uploads an image through the file input, and reads the classes and probabilities shown.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`) and
`pip install selenium`; without them every test here is skipped, saying which is missing.
"""
import shutil
import socket
import threading
import time

import pytest

from helpers import saved_small_vgg
from vggcourse import serve

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs Selenium: pip install selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=(
        f"the browser test needs Chromium and ChromeDriver on PATH (found: chromium={CHROMIUM}, chromedriver="
        f"{DRIVER}); on Debian: apt-get install chromium chromium-driver")),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of a real uvicorn serving a small Vgg16 (32x32, random weights, 'cats' and 'dogs')."""
    import uvicorn

    path = saved_small_vgg(tmp_path_factory.mktemp("serve") / "small.keras")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(serve.app(path), host="127.0.0.1", port=port, log_config=None, access_log=False)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(300):
        if running.started:
            break
        time.sleep(0.1)
    assert running.started, "uvicorn did not start within 30 s"
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _upload(browser, url, path):
    """Open the page, choose `path` in the file input, wait for the answer; the page's state."""
    browser.get(url + "/")
    browser.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error"))
    return browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def test_the_page_shows_every_class_top_first(server, browser, dogscats):
    import httpx

    image = sorted((dogscats / "valid" / "dogs").glob("*.jpg"))[0]
    assert _upload(browser, server, image) == "done", browser.find_element(By.ID, "status").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#results li.row")
    shown = [(row.find_element(By.CLASS_NAME, "name").text, row.find_element(By.CLASS_NAME, "prob").text)
             for row in rows]
    answer = httpx.post(server + "/predict", files={"file": (image.name, image.read_bytes(), "image/jpeg")}).json()
    ranked = sorted(answer["probabilities"].items(), key=lambda item: -item[1])
    assert shown == [(name, f"{100 * p:.2f}%") for name, p in ranked]
    assert browser.find_element(By.ID, "top").text == answer["top"] == ranked[0][0]
    assert browser.find_element(By.ID, "preview").is_displayed()
    WebDriverWait(browser, 10).until(lambda b: "Vgg16" in b.find_element(By.ID, "model").text)


def test_the_page_shows_the_servers_error_for_a_file_that_is_not_an_image(server, browser, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert _upload(browser, server, text) == "error"
    assert "not an image" in browser.find_element(By.ID, "status").text
    assert browser.find_elements(By.CSS_SELECTOR, "#results li.row") == []
