"""grade: an autograder for graded programming exercises."""

from pathlib import Path

__version__ = "0.1.0"

# The installed grader package: a sandbox masks it (students never read the grader's code),
# and a source checkout's example course is found beside it.
PACKAGE_DIR = Path(__file__).resolve().parent
