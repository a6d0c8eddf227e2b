/* Splitting and indexing a header section: parser.py _split_head, _header_lines, _read_fields.
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.)
 * Helpers return 1 (done), 0 (unsure: the caller returns None) or -1 (error set). */
#include "accel.h"

/* What one split works with and builds. */
typedef struct {
    const char *data;
    Py_ssize_t max_header_line, max_via, max_headers;
    const NameTable *names; /* NULL: look names up in spelled (a dict) */
    PyObject *spelled, *header_key, *singletons, *via_key;
    PyObject *fields, *index, *duplicate; /* owned */
    Py_ssize_t vias, count;
} Split;

/* An int that fits in ssize_t: 1 and *out set; 0 when it does not (OverflowError cleared)
 * or is not an int (TypeError left set). */
static int read_size(PyObject *obj, Py_ssize_t *out) {
    if (!PyLong_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "limits must be ints");
        return 0;
    }
    *out = PyLong_AsSsize_t(obj);
    if (*out == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return 0;
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Where the header section of data[start:] ends (its CRLFCRLF), or -1 when unsure: no CRLF
 * start line, no CRLFCRLF within max_header_size, a byte above 0x7F, a bare CR or LF, or
 * more lines than _header_lines allows (4 * max_headers, start line included). */
static Py_ssize_t header_end(const char *data, Py_ssize_t n, Py_ssize_t start,
                             Py_ssize_t max_header_size, Py_ssize_t max_headers) {
    Py_ssize_t window, first_eol, end = -1, k, lines = 1;
    const char *found;
    if (start < 0 || start >= n || max_header_size <= 0)
        return -1;
    /* min(start + max_header_size, n), without overflowing for a huge limit */
    window = max_header_size < n - start ? start + max_header_size : n;
    found = memchr(data + start, '\n', (size_t)(window - start));
    if (found == NULL)
        return -1;
    first_eol = found - data;
    if (first_eol <= start || data[first_eol - 1] != '\r')
        return -1; /* bare-LF messages and odd starts: the Python path */
    for (k = start; k + 4 <= window; k++) { /* data.find(b"\r\n\r\n", start, window) */
        const char *cr = memchr(data + k, '\r', (size_t)(window - k));
        if (cr == NULL)
            break;
        k = cr - data;
        if (k + 4 > window)
            break;
        if (data[k + 1] == '\n' && data[k + 2] == '\r' && data[k + 3] == '\n') {
            end = k;
            break;
        }
    }
    if (end < 0)
        return -1;
    for (k = start; k < end; k++) {
        unsigned char c = (unsigned char)data[k];
        if (c >= 0x80 || c == '\n')
            return -1;
        if (c == '\r') {
            if (k + 1 >= end || data[k + 1] != '\n')
                return -1;
            k++;
            lines++;
        }
    }
    if (max_headers <= 0 || (max_headers < PY_SSIZE_T_MAX / 4 && lines > 4 * max_headers))
        return -1;
    return end;
}

/* The name as written and its key (SPELLED, else header_key), both new references. */
static int name_and_key(Split *sp, Py_ssize_t a, Py_ssize_t b, PyObject **name, PyObject **key) {
    const NameEntry *known = sp->names != NULL ? find_name(sp->names, sp->data + a, b - a) : NULL;
    if (known != NULL) {
        *name = Py_NewRef(known->name);
        *key = Py_NewRef(known->key);
        return 1;
    }
    *name = ascii_str(sp->data + a, b - a);
    if (*name == NULL)
        return -1;
    *key = sp->names != NULL ? NULL : PyDict_GetItemWithError(sp->spelled, *name);
    if (*key != NULL) {
        Py_INCREF(*key);
        return 1;
    }
    if (!PyErr_Occurred())
        *key = PyObject_CallOneArg(sp->header_key, *name);
    if (*key == NULL || !PyUnicode_Check(*key)) { /* None: not a token, the Python path */
        int status = *key == NULL ? -1 : 0;
        Py_XDECREF(*key);
        Py_CLEAR(*name);
        return status;
    }
    return 1;
}

/* Records field number sp->count under key in the index; notes the first repeated singleton
 * (its name as written, trailing blanks dropped) as _split_fields does. */
static int index_field(Split *sp, PyObject *key, Py_ssize_t line_start, Py_ssize_t name_end) {
    PyObject *positions = PyDict_GetItemWithError(sp->index, key);
    PyObject *position = PyLong_FromSsize_t(sp->count);
    int single, status;
    if (position == NULL || (positions == NULL && PyErr_Occurred())) {
        Py_XDECREF(position);
        return -1;
    }
    if (positions == NULL) {
        positions = PyList_New(1);
        if (positions == NULL) {
            Py_DECREF(position);
            return -1;
        }
        PyList_SET_ITEM(positions, 0, position);
        status = PyDict_SetItem(sp->index, key, positions);
        Py_DECREF(positions);
        return status < 0 ? -1 : 1;
    }
    status = PyList_Append(positions, position);
    Py_DECREF(position);
    if (status < 0)
        return -1;
    if (sp->duplicate != NULL)
        return 1;
    single = PySet_Contains(sp->singletons, key);
    if (single <= 0)
        return single < 0 ? -1 : 1;
    while (name_end > line_start &&
           (sp->data[name_end - 1] == ' ' || sp->data[name_end - 1] == '\t'))
        name_end--;
    sp->duplicate = ascii_str(sp->data + line_start, name_end - line_start);
    return sp->duplicate == NULL ? -1 : 1;
}

/* One header line, data[a:b] (no CRLF): the field (key, name, value, line), appended. */
static int add_field(Split *sp, Py_ssize_t a, Py_ssize_t b) {
    const char *data = sp->data;
    Py_ssize_t colon = a, value_start, value_end, k;
    PyObject *name, *key, *field;
    int status;
    while (colon < b && data[colon] != ':')
        colon++;
    if (colon == b)
        return 0; /* no colon: folding or a malformed line */
    value_start = colon + 1;
    value_end = b;
    while (value_start < value_end && (data[value_start] == ' ' || data[value_start] == '\t'))
        value_start++;
    while (value_end > value_start && (data[value_end - 1] == ' ' || data[value_end - 1] == '\t'))
        value_end--;
    status = name_and_key(sp, a, colon, &name, &key);
    if (status <= 0)
        return status;
    if (key == sp->via_key || PyUnicode_CompareWithASCIIString(key, "via") == 0) {
        sp->vias++;
        for (k = value_start; k < value_end; k++)
            sp->vias += data[k] == ',';
        if (sp->vias > sp->max_via) {
            Py_DECREF(name);
            Py_DECREF(key);
            return 0;
        }
    }
    status = index_field(sp, key, a, colon);
    field = status < 0 ? NULL : PyTuple_New(4);
    if (field == NULL) {
        Py_DECREF(name);
        Py_DECREF(key);
        return -1;
    }
    PyTuple_SET_ITEM(field, 0, key);
    PyTuple_SET_ITEM(field, 1, name);
    PyTuple_SET_ITEM(field, 2, ascii_str(data + value_start, value_end - value_start));
    PyTuple_SET_ITEM(field, 3, ascii_str(data + a, b - a));
    if (PyTuple_GET_ITEM(field, 2) == NULL || PyTuple_GET_ITEM(field, 3) == NULL ||
        PyList_Append(sp->fields, field) < 0) {
        Py_DECREF(field);
        return -1;
    }
    Py_DECREF(field);
    return ++sp->count > sp->max_headers ? 0 : 1;
}

/* The start line and every field of data[start:end], into sp; *first gets the start line. */
static int split_lines(Split *sp, Py_ssize_t start, Py_ssize_t end, PyObject **first) {
    Py_ssize_t line_start = start;
    while (line_start <= end) {
        const char *eol = memchr(sp->data + line_start, '\r', (size_t)(end - line_start));
        Py_ssize_t line_end = eol != NULL ? eol - sp->data : end;
        int status;
        if (line_end - line_start > sp->max_header_line)
            return 0;
        if (*first == NULL) {
            *first = ascii_str(sp->data + line_start, line_end - line_start);
            status = *first == NULL ? -1 : 1;
        } else {
            status = add_field(sp, line_start, line_end);
        }
        if (status <= 0)
            return status;
        line_start = line_end + 2;
    }
    return *first == NULL ? 0 : 1;
}

/* split_message(data, start, max_header_size, max_headers, max_header_line, max_via,
 *               spelled, header_key, singletons, (Via, NameAddr, SipUri, CSeq))
 * parser.py's _split_head + _header_lines + _read_fields for a header section with CRLF
 * line ends, no folding, no byte above 0x7F and every limit kept. spelled is SPELLED or
 * header_names(SPELLED). Returns (start_line, fields, index, duplicate, body_start, views,
 * request_uri) or None: views is eager_views' dict, request_uri the SipUri of a plain
 * Request-Line, else None. */
PyObject *accel_split_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Split sp = {0};
    Py_ssize_t start, max_header_size, end;
    PyObject *types, *first = NULL, *views = NULL, *uri = NULL, *result = NULL;
    int status;
    if (!check_args("split_message", nargs, 10))
        return NULL;
    types = args[9];
    if (!PyBytes_Check(args[0]) ||
        (!PyDict_Check(args[6]) && !PyCapsule_IsValid(args[6], names_capsule)) ||
        !PyAnySet_Check(args[8]) || !PyTuple_Check(types) || PyTuple_GET_SIZE(types) != 4) {
        PyErr_SetString(PyExc_TypeError, "split_message: data bytes, spelled dict or "
                                         "header_names(), singletons set, types 4-tuple");
        return NULL;
    }
    /* A number beyond ssize_t (a limit nobody sets, or an odd start) is a doubt, not an
     * OverflowError: only SipParseError may leave parse_message. */
    if (!read_size(args[1], &start) || !read_size(args[2], &max_header_size) ||
        !read_size(args[3], &sp.max_headers) || !read_size(args[4], &sp.max_header_line) ||
        !read_size(args[5], &sp.max_via)) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    sp.data = PyBytes_AS_STRING(args[0]);
    end = header_end(sp.data, PyBytes_GET_SIZE(args[0]), start, max_header_size, sp.max_headers);
    if (end < 0)
        Py_RETURN_NONE;
    sp.names = PyDict_Check(args[6]) ? NULL : PyCapsule_GetPointer(args[6], names_capsule);
    sp.spelled = args[6];
    sp.header_key = args[7];
    sp.singletons = args[8];
    sp.via_key = state_of(module)->key[K_VIA];
    sp.fields = PyList_New(0);
    sp.index = PyDict_New();
    status = sp.fields == NULL || sp.index == NULL ? -1 : split_lines(&sp, start, end, &first);
    if (status > 0)
        views = eager_views(module, sp.fields, sp.index, types);
    if (views != NULL)
        uri = starts_like_status_line(first)
                  ? Py_NewRef(Py_None)
                  : request_uri(module, first, PyTuple_GET_ITEM(types, 2));
    if (uri != NULL)
        result = Py_BuildValue("(OOOOnOO)", first, sp.fields, sp.index,
                               sp.duplicate != NULL ? sp.duplicate : Py_None, end + 4, views, uri);
    else if (status == 0)
        result = Py_NewRef(Py_None);
    Py_XDECREF(sp.fields);
    Py_XDECREF(sp.index);
    Py_XDECREF(sp.duplicate);
    Py_XDECREF(first);
    Py_XDECREF(views);
    Py_XDECREF(uri);
    return result;
}
