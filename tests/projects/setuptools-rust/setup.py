from setuptools import setup
from setuptools_rust import RustBin, RustExtension

# RustBin is RustExtension(binding=Binding.Exec) installed as a script (.data/scripts).
setup(
    packages=["wa_strust"],
    rust_extensions=[
        RustExtension("wa_strust.wa_sample_syslib", path="syslib/Cargo.toml", py_limited_api=True),
        RustBin("wa-strust-sqlite", path="cli/Cargo.toml"),
    ],
    options={"bdist_wheel": {"py_limited_api": "cp38"}},
    zip_safe=False,
)
