"""Reading and writing wheel files: the zip format, metadata and RECORD, inflation, the writer."""
