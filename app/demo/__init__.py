"""`haochaping demo`: a synthetic service centre with its work orders, loaded fast.

centre.py makes the departments, ratings and 12345 complaints; lifecycle.py walks each 差评 and
complaint through the real work-order state machine (pure); loader.py refuses a database with
real data, writes everything with COPY and set-based INSERTs, and rolls up; progress.py draws
the progress line.
"""
