"""grade: an autograder for graded programming exercises."""

__version__ = "0.1.0"
