"""The ``wheelaudit`` command line: a thin layer over the library API.

:mod:`.main` parses and dispatches (the console script is ``wheelaudit.cli.main:run``),
:mod:`.help` holds the ``--help`` epilogs, :mod:`.listing` the commands that judge nothing,
:mod:`.exitstatus` what an exception means for the exit status and the line printed.
"""
