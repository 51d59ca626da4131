"""Manual grading: `autograder review <lab>`, a web app where TAs grade by question.

- `state`: the lab's questions, every student's current notebook, answer groups and progress,
  from the gradebook (`autograder.records.manual_grades` holds the manual points);
- `render`: student text made inert (Markdown without raw HTML, no links, images only as data
  the notebook carried);
- `security`: the token or TA logins, signed sessions, CSRF tokens and the pages' headers;
- `app`: the pages and actions (Starlette, Jinja2 templates, a small keyboard script);
- `server`: starting it (uvicorn) on localhost and printing the address with its token.
"""

from autograder.review.server import ReviewError, open_review, serve

__all__ = ["ReviewError", "open_review", "serve"]
