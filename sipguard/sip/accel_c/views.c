/* What views.py and grammar.py call on a parsed message: value lists, get_param.
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* The values of the fields at positions (a list of ints), each one value with no comma, or
 * 0 when one holds a comma (views.py then splits it). Returns a new list, or NULL. */
static PyObject *values_at(PyObject *fields, PyObject *positions, int *unsure) {
    Py_ssize_t k, size;
    PyObject *out;
    *unsure = 0;
    if (!PyList_Check(fields) || !PyList_Check(positions)) {
        PyErr_SetString(PyExc_TypeError, "fields and positions must be lists");
        return NULL;
    }
    size = PyList_GET_SIZE(positions);
    out = PyList_New(size);
    if (out == NULL)
        return NULL;
    for (k = 0; k < size; k++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(positions, k));
        PyObject *field, *value;
        if (at == -1 && PyErr_Occurred())
            goto error;
        if (at < 0 || at >= PyList_GET_SIZE(fields))
            goto unsure;
        field = PyList_GET_ITEM(fields, at);
        if (!PyTuple_Check(field) || PyTuple_GET_SIZE(field) != 4)
            goto unsure;
        value = PyTuple_GET_ITEM(field, 2);
        if (!PyUnicode_Check(value) ||
            PyUnicode_FindChar(value, ',', 0, PyUnicode_GET_LENGTH(value), 1) != -1)
            goto unsure;
        PyList_SET_ITEM(out, k, Py_NewRef(value));
    }
    return out;
unsure:
    *unsure = 1;
error:
    Py_DECREF(out);
    return NULL;
}

/* via_list(fields, positions, Via) / name_addr_list(fields, positions, NameAddr, SipUri):
 * views.py's vias and _addresses when every line holds one plainly spelled value. */
static PyObject *parse_each(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                            int is_via) {
    int unsure;
    Py_ssize_t k, size;
    PyObject *values = values_at(args[0], args[1], &unsure), *out, *a[3];
    if (values == NULL) {
        if (unsure)
            Py_RETURN_NONE;
        return NULL;
    }
    size = PyList_GET_SIZE(values);
    out = PyTuple_New(size);
    if (out == NULL) {
        Py_DECREF(values);
        return NULL;
    }
    a[1] = args[2];
    a[2] = is_via ? NULL : args[3];
    for (k = 0; k < size; k++) {
        PyObject *item;
        a[0] = PyList_GET_ITEM(values, k);
        item = is_via ? accel_via(module, a, 2) : accel_name_addr(module, a, 3);
        if (item == NULL || item == Py_None) {
            Py_DECREF(values);
            Py_DECREF(out);
            if (item == NULL)
                return NULL;
            return item; /* None */
        }
        PyTuple_SET_ITEM(out, k, item);
    }
    Py_DECREF(values);
    return out;
}

PyObject *accel_via_list(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_args("via_list", nargs, 3))
        return NULL;
    return parse_each(module, args, nargs, 1);
}

PyObject *accel_name_addr_list(PyObject *module, PyObject *const *args,
                                      Py_ssize_t nargs) {
    if (!check_args("name_addr_list", nargs, 4))
        return NULL;
    return parse_each(module, args, nargs, 0);
}

/* get_param(params, name): grammar.py's get_param (first value of a parameter, names
 * compared case-insensitively; "" for a flag; None when absent), for tuples of pairs. */
PyObject *accel_get_param(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *params, *name, *lname = NULL, *found = NULL;
    Text want;
    Py_ssize_t k;
    if (!check_args("get_param", nargs, 2))
        return NULL;
    params = args[0];
    name = args[1];
    if (!PyTuple_Check(params) || !PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "get_param(params: tuple, name: str)");
        return NULL;
    }
    lname = PyObject_CallMethod(name, "lower", NULL);
    if (lname == NULL)
        return NULL;
    if (!ascii_text(lname, &want))
        want.s = NULL;
    for (k = 0; k < PyTuple_GET_SIZE(params) && found == NULL; k++) {
        PyObject *pair = PyTuple_GET_ITEM(params, k), *key;
        Text have;
        int same;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))) {
            PyErr_SetString(PyExc_TypeError, "params must be (name, value) pairs");
            goto error;
        }
        key = PyTuple_GET_ITEM(pair, 0);
        if (want.s != NULL && ascii_text(key, &have)) {
            Py_ssize_t m;
            same = have.n == want.n;
            for (m = 0; same && m < have.n; m++) {
                char c = have.s[m];
                same = ((c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c) == want.s[m];
            }
        } else { /* key == lname or key.lower() == lname, as Python writes it */
            PyObject *lower = PyObject_CallMethod(key, "lower", NULL);
            if (lower == NULL)
                goto error;
            same = PyUnicode_Compare(key, lname) == 0 || PyUnicode_Compare(lower, lname) == 0;
            Py_DECREF(lower);
            if (PyErr_Occurred())
                goto error;
        }
        if (same)
            found = PyTuple_GET_ITEM(pair, 1);
    }
    Py_DECREF(lname);
    if (found == NULL)
        Py_RETURN_NONE;
    if (found == Py_None)
        return PyUnicode_New(0, 127);
    return Py_NewRef(found);
error:
    Py_DECREF(lname);
    return NULL;
}
