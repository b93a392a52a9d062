/* Loads a shared library and calls one function: runs a fixture under qemu-user to see if it dies (SIGILL). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    int (*run)(void) = (int (*)(void))dlsym(lib, argv[2]);
    if (!run) return 3;
    run();
    puts("ok");
    return 0;
}
