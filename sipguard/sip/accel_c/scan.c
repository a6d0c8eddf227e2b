/* Character classes and the scanners every fast path shares.
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

unsigned char cls[256];

void init_classes(void) {
    int c;
    for (c = 0; c < 256; c++) {
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        unsigned char k = 0;
        if (alnum || (c && strchr("-.!%*_+`'~", c)))
            k |= C_TOKEN;
        if (alnum || (c && strchr("-_.!~*'()&=+$,;?/", c)))
            k |= C_USER;
        if (alnum || (c && strchr("-_.!~*'()&=+$,", c)))
            k |= C_PW;
        if (alnum || (c && strchr("-_.!~*'()[]/:&+$", c)))
            k |= C_PARAM;
        if (alnum || c == '-' || c == '_' || c == '.')
            k |= C_HOST;
        if (alnum || (c && strchr("-_.!~*'()&=+$,;?/:%", c)))
            k |= C_AHEAD;
        if ((c >= 9 && c <= 13) || (c >= 28 && c <= 32))
            k |= C_SPACE;
        if (c >= '0' && c <= '9')
            k |= C_DIGIT;
        cls[c] = k;
    }
}


static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int check_args(const char *name, Py_ssize_t nargs, Py_ssize_t expected) {
    if (nargs == expected)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected, nargs);
    return 0;
}
/* The ASCII bytes of a str, or 0 when it is not pure ASCII (the caller returns None). */
int ascii_text(PyObject *obj, Text *t) {
    if (!PyUnicode_Check(obj) || !PyUnicode_IS_ASCII(obj))
        return 0;
    t->s = (const char *)PyUnicode_1BYTE_DATA(obj);
    t->n = PyUnicode_GET_LENGTH(obj);
    return 1;
}

PyObject *ascii_str(const char *s, Py_ssize_t n) {
    PyObject *out = PyUnicode_New(n, 127);
    if (out != NULL && n > 0)
        memcpy(PyUnicode_1BYTE_DATA(out), s, (size_t)n);
    return out;
}

/* 1*( chars / escaped ) unrolled as chars*( "%" HEX HEX chars* )*: the end of the run. */
Py_ssize_t scan_escaped(const char *s, Py_ssize_t i, Py_ssize_t n, int k) {
    while (i < n) {
        if (IS(s[i], k))
            i++;
        else if (s[i] == '%' && i + 2 < n && is_hex(s[i + 1]) && is_hex(s[i + 2]))
            i += 3;
        else
            break;
    }
    return i;
}

/* host = hostname / IPv4address (uri.py HOST_PATTERN, without the IPv6 reference, which
 * returns -1 like every doubt). The match is the longest run of hostname characters:
 * nothing that may follow a host starts with one. Returns the end or -1. */
Py_ssize_t scan_host(const char *s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t j = i, k, groups = 1, digits = 0, start;
    int quad = 1;
    while (j < n && IS(s[j], C_HOST))
        j++;
    if (j == i || s[i] == '-' || s[i] == '.' || s[j - 1] == '-')
        return -1;
    /* \d+\.\d+\.\d+\.\d+ must be a valid IPv4address (RFC 5954 section 4.1). */
    for (k = i; k < j; k++) {
        if (s[k] == '.') {
            if (digits == 0) {
                quad = 0;
                break;
            }
            groups++;
            digits = 0;
        } else if (IS(s[k], C_DIGIT)) {
            digits++;
        } else {
            quad = 0;
            break;
        }
    }
    if (!quad || groups != 4 || digits == 0)
        return j;
    start = i;
    for (k = i; k <= j; k++) {
        if (k == j || s[k] == '.') {
            Py_ssize_t len = k - start;
            int value = 0;
            Py_ssize_t m;
            if (len > 3 || (len > 1 && s[start] == '0'))
                return -1;
            for (m = start; m < k; m++)
                value = value * 10 + (s[m] - '0');
            if (value > 255)
                return -1;
            start = k + 1;
        }
    }
    return j;
}

/* [ ":" port ] with port = 1*5DIGIT <= 65535. Sets *port (-1: none); returns the end or -1. */
Py_ssize_t scan_port(const char *s, Py_ssize_t i, Py_ssize_t n, long *port) {
    Py_ssize_t j;
    long value = 0;
    *port = -1;
    if (i >= n || s[i] != ':')
        return i;
    for (j = i + 1; j < n && IS(s[j], C_DIGIT); j++) {
        if (j - i > 5)
            return -1;
        value = value * 10 + (s[j] - '0');
    }
    if (j == i + 1 || value > 65535)
        return -1;
    *port = value;
    return j;
}

/* A (name, value) pair; value None for a flag. */
PyObject *param_pair(const char *s, Py_ssize_t name_start, Py_ssize_t name_end,
                            Py_ssize_t value_start, Py_ssize_t value_end) {
    PyObject *name = ascii_str(s + name_start, name_end - name_start);
    PyObject *value, *pair;
    if (name == NULL)
        return NULL;
    if (value_start < 0) {
        value = Py_NewRef(Py_None);
    } else {
        value = ascii_str(s + value_start, value_end - value_start);
        if (value == NULL) {
            Py_DECREF(name);
            return NULL;
        }
    }
    pair = PyTuple_Pack(2, name, value);
    Py_DECREF(name);
    Py_DECREF(value);
    return pair;
}

/* Header parameters in their plain spelling, *( ";" token [ "=" *value-char ] ) with
 * value-char anything but ; , " and \s: grammar.py's split_checked_params over text that
 * matched PARAMS_PATTERN without quotes or blanks. Stops at the first byte that cannot
 * continue them; *end tells where. Returns a new tuple, or NULL with an exception set. */
PyObject *plain_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end) {
    PyObject *list = PyList_New(0), *out;
    while (list != NULL && i < n && s[i] == ';') {
        Py_ssize_t name_start = i + 1, name_end = name_start, value_start = -1, j;
        PyObject *pair;
        while (name_end < n && IS(s[name_end], C_TOKEN))
            name_end++;
        if (name_end == name_start)
            break; /* an empty name: not the plain spelling */
        j = name_end;
        if (j < n && s[j] == '=') {
            value_start = ++j;
            while (j < n && s[j] != ';' && s[j] != ',' && s[j] != '"' && !IS(s[j], C_SPACE))
                j++;
        }
        pair = param_pair(s, name_start, name_end, value_start, j);
        if (pair == NULL || PyList_Append(list, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(pair);
        i = j;
    }
    *end = i;
    if (list == NULL)
        return NULL;
    out = PyList_AsTuple(list);
    Py_DECREF(list);
    return out;
}

PyObject *empty_tuple(void) { return PyTuple_New(0); }

/* Build a NamedTuple subclass instance from owned references (stolen, even on failure). */
PyObject *build(PyObject *type, Py_ssize_t size, PyObject **items) {
    Py_ssize_t k;
    PyObject *out = NULL;
    for (k = 0; k < size; k++)
        if (items[k] == NULL)
            goto done;
    if (!PyType_Check(type) || !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "result type must be a tuple subclass");
        goto done;
    }
    out = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, size);
    if (out == NULL)
        goto done;
    for (k = 0; k < size; k++) {
        PyTuple_SET_ITEM(out, k, items[k]);
        items[k] = NULL;
    }
done:
    for (k = 0; k < size; k++)
        Py_XDECREF(items[k]);
    return out;
}

PyObject *port_object(long port) {
    return port < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(port);
}
