"""Make docs/serve.png, the README's picture of `vggcourse serve`'s page, in headless Chromium.

    .venv/bin/python docs/serve_screenshot.py      # needs chromium and chromium-driver (Debian)

The model is a small Vgg16 (64x64, random weights, no ImageNet) fine-tuned for one epoch on the
stand-in sample (`vggcourse sample`), so its probabilities mean little: the picture shows the page.
"""
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import keras
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from vggcourse import serve
from vggcourse.model import Vgg16
from vggcourse.sample import write_sample

OUT = Path(__file__).resolve().parent / "serve.png"


def main():
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        sys.exit("docs/serve_screenshot.py needs chromium and chromium-driver: apt-get install chromium chromium-driver")
    with tempfile.TemporaryDirectory() as folder:
        data = write_sample(Path(folder) / "sample", train=20, valid=4, test=0, seed=0)
        keras.utils.set_random_seed(0)
        vgg = Vgg16((64, 64), weights=None)
        vgg.finetune(vgg.get_batches(Path(data) / "train", batch_size=8))
        vgg.fit(vgg.get_batches(Path(data) / "train", batch_size=8), vgg.get_batches(Path(data) / "valid"), epochs=1)
        model = vgg.save(Path(folder) / "dogscats.keras", include_optimizer=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(serve.app(model), host="127.0.0.1", port=port, log_config=None))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.1)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,760"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        try:
            browser.get(f"http://127.0.0.1:{port}/")
            image = sorted((Path(data) / "valid" / "dogs").glob("*.jpg"))[0]
            browser.find_element(By.ID, "file").send_keys(str(image))
            WebDriverWait(browser, 30).until(
                lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done")
            browser.save_screenshot(str(OUT))
        finally:
            browser.quit()
            server.should_exit = True
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
