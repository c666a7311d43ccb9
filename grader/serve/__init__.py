"""`grade serve`: a submission service with live results and a live class page.

The flow: the web app (app.py) stores each submission first (file and row in one
transaction, queue.py), a worker process (worker.py) claims it, grades it with the engine
and writes its stage verdicts as events; the app streams those events to the browser.
The web process never runs student code.
"""
