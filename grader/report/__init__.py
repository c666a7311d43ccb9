"""Renderers: each module has ``render(report: Report, lang: str, **options) -> str``.

text (terminal), html (one self-contained page), markdown (PR comment, job summary), junit
(CI test tabs), json (the ``--format json`` contract). Every renderer reads a cleaned copy of
the report (grader.safe_text), so no control character from a submission reaches its output.
"""
