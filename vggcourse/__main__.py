"""`python -m vggcourse ...` is the same as the `vggcourse` command."""
import sys

from vggcourse.cli import main

sys.exit(main())
