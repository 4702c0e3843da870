#include <stdio.h>
int main(int argc, char **argv) { printf("hello, world %d %s\n", argc, argv[0]); return 3; }
