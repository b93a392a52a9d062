/* The version of the SQLite library the loader found for this library. */
extern const char *sqlite3_libversion(void);

const char *wa_hatch_sqlite_version(void) { return sqlite3_libversion(); }
