"""Erasure of a data subject: everywhere the lake, the stores and the raw bucket hold it.

With an audit record, a suppression list and a proof scan (docs/how-to/erase-a-data-subject.md).
"""
