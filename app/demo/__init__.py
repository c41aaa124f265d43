"""`haochaping demo`: a synthetic service centre with its work orders, loaded fast.

centre.py makes the departments, ratings and 12345 complaints; lifecycle.py picks each 差评's and
complaint's path, walker.py takes its steps through the real work-order state machine into an
order.py record (pure, all three); loader.py refuses real data (realdata.py), COPYs the ratings,
writes the orders set-based (writer.py), loads the other sources (extras.py: cases and survey
samples, a hook) and rolls up (rollup.py); progress.py draws the line.
"""
