"""Erasure of a data subject: everywhere the lake, the stores and the raw bucket hold it, with an audit record and a proof scan."""
