/* Known header names as a table over bytes (names.py SPELLED).
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* header_names(spelled): SPELLED (names.py: exact spelling -> key) as a hash table over
 * bytes, so split_message finds a known name's own str objects without making a new one.
 * A snapshot: SPELLED is a constant. Returned as a capsule the parser keeps. */

const char names_capsule[] = "sipguard.sip._accel.header_names";

static size_t name_hash(const char *s, Py_ssize_t n) {
    size_t h = 2166136261u; /* FNV-1a */
    Py_ssize_t k;
    for (k = 0; k < n; k++)
        h = (h ^ (unsigned char)s[k]) * 16777619u;
    return h;
}

const NameEntry *find_name(const NameTable *table, const char *s, Py_ssize_t n) {
    size_t at = name_hash(s, n) & table->mask;
    for (;;) {
        const NameEntry *e = &table->slots[at];
        if (e->name == NULL)
            return NULL;
        if (e->len == n && memcmp(e->bytes, s, (size_t)n) == 0)
            return e;
        at = (at + 1) & table->mask;
    }
}

static void free_names(PyObject *capsule) {
    NameTable *table = PyCapsule_GetPointer(capsule, names_capsule);
    size_t k;
    if (table == NULL)
        return;
    for (k = 0; k <= table->mask; k++) {
        Py_XDECREF(table->slots[k].name);
        Py_XDECREF(table->slots[k].key);
    }
    PyMem_Free(table->slots);
    PyMem_Free(table);
}

PyObject *accel_header_names(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *spelled, *name, *key, *capsule;
    Py_ssize_t pos = 0;
    size_t size = 16;
    NameTable *table;
    if (!check_args("header_names", nargs, 1))
        return NULL;
    spelled = args[0];
    if (!PyDict_Check(spelled)) {
        PyErr_SetString(PyExc_TypeError, "header_names(spelled: dict)");
        return NULL;
    }
    while (size < 2 * (size_t)PyDict_GET_SIZE(spelled) + 1)
        size *= 2;
    table = PyMem_Calloc(1, sizeof(NameTable));
    if (table == NULL)
        return PyErr_NoMemory();
    table->mask = size - 1;
    table->slots = PyMem_Calloc(size, sizeof(NameEntry));
    if (table->slots == NULL) {
        PyMem_Free(table);
        return PyErr_NoMemory();
    }
    capsule = PyCapsule_New(table, names_capsule, free_names);
    if (capsule == NULL) {
        PyMem_Free(table->slots);
        PyMem_Free(table);
        return NULL;
    }
    while (PyDict_Next(spelled, &pos, &name, &key)) {
        Text t;
        size_t at;
        if (!ascii_text(name, &t) || !PyUnicode_Check(key))
            continue; /* never in SPELLED; a miss falls back to header_key */
        at = name_hash(t.s, t.n) & table->mask;
        while (table->slots[at].name != NULL)
            at = (at + 1) & table->mask;
        table->slots[at].len = t.n;
        table->slots[at].bytes = t.s;
        table->slots[at].name = Py_NewRef(name);
        table->slots[at].key = Py_NewRef(key);
    }
    return capsule;
}
