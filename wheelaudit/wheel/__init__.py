"""Reading and writing wheel files, in the order a read goes.

zipformat (the zip records) -> zipdir (the central directory, as members) -> limits
(what is refused before anything is inflated) -> metadata + records (WHEEL, METADATA,
RECORD) -> archive (an open wheel and its member streams) -> inflate + splitinflate
(decoders, two for far reads) -> writer (a new wheel, with scratch for its files).
"""
