"""Approximate and certified unlearning: influence functions (GIF, IF), certified
SGC/GPR updates, GNNDelete, GST and gradient-based baselines.

Each method lives in its own module and registers itself by name; import the
classes from their modules (``from graphforget.approx.gif import GIF``).
"""
