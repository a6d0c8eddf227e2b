/* The views every message needs, read while splitting (parser.py).
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* The value of the first field under key k, borrowed, or NULL. */
static PyObject *first_value(PyObject *fields, PyObject *index, PyObject *key) {
    PyObject *positions = PyDict_GetItemWithError(index, key), *field;
    Py_ssize_t at;
    if (positions == NULL || !PyList_Check(positions) || PyList_GET_SIZE(positions) == 0)
        return NULL;
    at = PyLong_AsSsize_t(PyList_GET_ITEM(positions, 0));
    if (at < 0 || at >= PyList_GET_SIZE(fields))
        return NULL;
    field = PyList_GET_ITEM(fields, at);
    return PyTuple_GET_ITEM(field, 2);
}

/* 1*DIGIT of at most 10 digits (views.py _is_digits and its length check), or -1. */
static long long small_digits(PyObject *value) {
    Text t;
    long long out = 0;
    Py_ssize_t k;
    if (!ascii_text(value, &t) || t.n == 0 || t.n > 10)
        return -1;
    for (k = 0; k < t.n; k++) {
        if (!IS(t.s[k], C_DIGIT))
            return -1;
        out = out * 10 + (t.s[k] - '0');
    }
    return out;
}

/* Stores cache[key] = made (stolen) unless made is None or NULL; -1 on error. */
static int store(PyObject *cache, PyObject *key, PyObject *made) {
    int r = 0;
    if (made == NULL)
        return -1;
    if (made != Py_None)
        r = PyDict_SetItem(cache, key, made);
    Py_DECREF(made);
    return r;
}

/* The typed views every message needs, computed where the fast paths are sure, keyed by
 * the names of views.py's views: "via" (the top one), "from_", "to", "call_id", "cseq",
 * "max_forwards", "content_length". The parser makes this dict the message's __dict__; a
 * view left out is computed by views.py when read. */
PyObject *eager_views(PyObject *module, PyObject *fields, PyObject *index,
                             PyObject *types) {
    State *st = state_of(module);
    PyObject *cache = PyDict_New(), *value, *a[3];
    long long number;
    if (cache == NULL)
        return NULL;
    value = first_value(fields, index, st->key[K_VIA]);
    if (value != NULL && PyUnicode_FindChar(value, ',', 0, PyUnicode_GET_LENGTH(value), 1) == -1) {
        a[0] = value;
        a[1] = PyTuple_GET_ITEM(types, 0);
        if (store(cache, st->key[K_VIA], accel_via(module, a, 2)) < 0)
            goto error;
    }
    a[1] = PyTuple_GET_ITEM(types, 1);
    a[2] = PyTuple_GET_ITEM(types, 2);
    if ((a[0] = first_value(fields, index, st->key[K_FROM])) != NULL &&
        store(cache, st->key[V_FROM], accel_name_addr(module, a, 3)) < 0)
        goto error;
    if ((a[0] = first_value(fields, index, st->key[K_TO])) != NULL &&
        store(cache, st->key[K_TO], accel_name_addr(module, a, 3)) < 0)
        goto error;
    value = first_value(fields, index, st->key[K_CALL_ID]);
    if (value != NULL) {
        /* callid: any run of visible characters (views.py _CALL_ID_BAD_RE) */
        Text t;
        Py_ssize_t k;
        int visible = ascii_text(value, &t) && t.n > 0;
        for (k = 0; visible && k < t.n; k++)
            visible = (unsigned char)t.s[k] > 0x20 && t.s[k] != 0x7f;
        if (visible && PyDict_SetItem(cache, st->key[V_CALL_ID], value) < 0)
            goto error;
    }
    if ((a[0] = first_value(fields, index, st->key[K_CSEQ])) != NULL) {
        a[1] = PyTuple_GET_ITEM(types, 3);
        if (store(cache, st->key[K_CSEQ], accel_cseq(module, a, 2)) < 0)
            goto error;
    }
    /* Max-Forwards = 1*DIGIT, 0-255 (RFC 3261 section 20.22) */
    value = first_value(fields, index, st->key[K_MAX_FORWARDS]);
    number = value != NULL ? small_digits(value) : -1;
    if (number >= 0 && number <= 255 &&
        store(cache, st->key[V_MAX_FORWARDS], PyLong_FromLongLong(number)) < 0)
        goto error;
    value = first_value(fields, index, st->key[K_CONTENT_LENGTH]);
    number = value != NULL ? small_digits(value) : -1;
    if (number >= 0 && store(cache, st->key[V_CONTENT_LENGTH], PyLong_FromLongLong(number)) < 0)
        goto error;
    if (PyErr_Occurred())
        goto error;
    return cache;
error:
    Py_DECREF(cache);
    return NULL;
}

/* first[:4].upper() == "SIP/": parser.py reads the start line as a status line. */
int starts_like_status_line(PyObject *first) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(first);
    int kind = PyUnicode_KIND(first);
    const void *data = PyUnicode_DATA(first);
    return n >= 4 && (PyUnicode_READ(kind, data, 0) | 0x20) == 's' &&
           (PyUnicode_READ(kind, data, 1) | 0x20) == 'i' &&
           (PyUnicode_READ(kind, data, 2) | 0x20) == 'p' && PyUnicode_READ(kind, data, 3) == '/';
}

/* The Request-URI of "Method SP sip-or-sips-URI SP SIP/2.0" (parser.py _check_request_line),
 * or None. */
PyObject *request_uri(PyObject *module, PyObject *first, PyObject *uri_type) {
    Text t;
    Py_ssize_t sp1, sp2, k;
    PyObject *uri_text, *uri, *a[2];
    if (!ascii_text(first, &t))
        Py_RETURN_NONE;
    for (sp1 = 0; sp1 < t.n && IS(t.s[sp1], C_TOKEN); sp1++)
        ;
    if (sp1 == 0 || sp1 >= t.n || t.s[sp1] != ' ')
        Py_RETURN_NONE;
    for (sp2 = sp1 + 1; sp2 < t.n && t.s[sp2] != ' '; sp2++)
        ;
    if (sp2 == sp1 + 1 || t.n - sp2 - 1 != 7 || memcmp(t.s + sp2 + 1, "SIP/2.0", 7) != 0)
        Py_RETURN_NONE;
    for (k = sp1 + 1; k < sp2; k++)
        if (t.s[k] == '?')
            Py_RETURN_NONE;
    uri_text = ascii_str(t.s + sp1 + 1, sp2 - sp1 - 1);
    if (uri_text == NULL)
        return NULL;
    a[0] = uri_text;
    a[1] = uri_type;
    uri = accel_sip_uri(module, a, 2);
    Py_DECREF(uri_text);
    return uri;
}
