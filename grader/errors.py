"""Errors the command line reports as usage errors (kept free of heavy imports)."""


class SpecError(Exception):
    """A stage spec (or the course) is broken; the message names file and field."""


class UsageError(Exception):
    """The command was asked for something that does not exist (folder, stage...)."""


class UnknownStage(KeyError):
    """`--stage` named no stage of the course; ``words(lang)`` says so in the user's language."""

    def __init__(self, ref: str, known: str):
        self.ref, self.known = ref, known
        super().__init__(self.words("en"))

    def words(self, lang: str) -> str:
        from grader.messages import t

        return t(lang, "unknown_stage", ref=self.ref, known=self.known)

    def __str__(self) -> str:
        return self.words("en")
