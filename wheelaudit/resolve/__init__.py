"""Where each loader finds a dependency: ``elf`` (glibc's ld.so, musl, Android's linker), ``macho``
(dyld), ``pe`` (Windows), ``host`` (the libraries of this machine, for repair).

Pure functions of the wheel's binaries, their installed paths and a platform policy, answering
per binary and per dependency: in the wheel (which member), system, interpreter, or external.
The checks judge the answers; repair grafts what is external.
"""
