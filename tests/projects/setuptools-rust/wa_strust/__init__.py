"""wheelaudit test project: the syslib extension built by setuptools-rust."""
