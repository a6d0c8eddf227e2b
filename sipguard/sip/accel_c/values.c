/* Via, CSeq and auth values: headers.py parse_via, parse_cseq; credentials.py parse_auth.
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* via(text, Via): headers.py parse_via where _VIA_FAST_RE matches:
 * "SIP/2.0/" ALPHA+ SP host [ ":" port ] plain params, nothing around it. */
PyObject *accel_via(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    const char *s;
    Py_ssize_t n, i, j, host_start, host_end, end;
    long port;
    PyObject *items[6];
    if (!check_args("via", nargs, 2))
        return NULL;
    if (!ascii_text(args[0], &t))
        Py_RETURN_NONE;
    s = t.s;
    n = t.n;
    if (n < 10 || memcmp(s, "SIP/2.0/", 8) != 0)
        Py_RETURN_NONE;
    i = 8;
    j = i;
    while (j < n && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z'))
        j++;
    if (j == i || j >= n || s[j] != ' ')
        Py_RETURN_NONE;
    host_start = j + 1;
    host_end = scan_host(s, host_start, n);
    if (host_end < 0)
        Py_RETURN_NONE;
    end = scan_port(s, host_end, n, &port);
    if (end < 0)
        Py_RETURN_NONE;
    items[3] = plain_params(s, end, n, &end);
    if (items[3] == NULL)
        return NULL;
    if (end != n) {
        Py_DECREF(items[3]);
        Py_RETURN_NONE;
    }
    {
        /* transport.upper() */
        PyObject *transport = PyUnicode_New(j - i, 127);
        Py_ssize_t k;
        if (transport != NULL) {
            Py_UCS1 *out = PyUnicode_1BYTE_DATA(transport);
            for (k = i; k < j; k++)
                out[k - i] = (Py_UCS1)(s[k] & ~0x20);
        }
        items[0] = transport;
    }
    items[1] = ascii_str(s + host_start, host_end - host_start);
    items[2] = port_object(port);
    items[4] = Py_NewRef(state_of(module)->key[K_VERSION]);
    items[5] = Py_NewRef(args[0]);
    return build(args[1], 6, items);
}

/* cseq(text, CSeq): headers.py parse_cseq: 1*10DIGIT \s+ token, below 2**32. */
PyObject *accel_cseq(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    Py_ssize_t i = 0, j;
    unsigned long long seq = 0;
    PyObject *items[2];
    if (!check_args("cseq", nargs, 2))
        return NULL;
    if (!ascii_text(args[0], &t))
        Py_RETURN_NONE;
    while (i < t.n && IS(t.s[i], C_DIGIT)) {
        if (i >= 10)
            Py_RETURN_NONE;
        seq = seq * 10 + (unsigned long long)(t.s[i] - '0');
        i++;
    }
    if (i == 0 || seq >= 4294967296ULL)
        Py_RETURN_NONE;
    j = i;
    while (j < t.n && IS(t.s[j], C_SPACE))
        j++;
    if (j == i || j >= t.n)
        Py_RETURN_NONE;
    for (i = j; i < t.n; i++)
        if (!IS(t.s[i], C_TOKEN))
            Py_RETURN_NONE;
    items[0] = PyLong_FromUnsignedLongLong(seq);
    items[1] = ascii_str(t.s + j, t.n - j);
    return build(args[1], 2, items);
}

/* auth(text, AuthValue): credentials.py parse_auth for scheme SP auth-param *( "," auth-param )
 * where no quoted value holds a backslash and the rest is not a token68. */
PyObject *accel_auth(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    const char *s;
    Py_ssize_t n, a = 0, b, sp, i, k;
    PyObject *params = NULL, *items[4];
    if (!check_args("auth", nargs, 2))
        return NULL;
    if (!ascii_text(args[0], &t))
        Py_RETURN_NONE;
    s = t.s;
    b = t.n;
    if (memchr(s, '\\', (size_t)b) != NULL)
        Py_RETURN_NONE; /* quoted-pairs, and the unquoting Python does for any backslash */
    while (a < b && IS(s[a], C_SPACE))
        a++;
    while (b > a && IS(s[b - 1], C_SPACE))
        b--;
    for (sp = a; sp < b && s[sp] != ' '; sp++)
        if (!IS(s[sp], C_TOKEN))
            Py_RETURN_NONE;
    if (sp == a || sp >= b)
        Py_RETURN_NONE;
    i = sp + 1;
    while (i < b && IS(s[i], C_SPACE))
        i++;
    n = b;
    /* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=": Python's way */
    for (k = i; k < n; k++) {
        char c = s[k];
        if (!(IS(c, C_DIGIT) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-' ||
              c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (k > i) {
        while (k < n && s[k] == '=')
            k++;
        if (k == n)
            Py_RETURN_NONE;
    }
    params = PyDict_New();
    if (params == NULL)
        return NULL;
    while (i < n) {
        Py_ssize_t name_start = i, value_start, value_end;
        PyObject *name, *value;
        int r;
        while (i < n && IS(s[i], C_TOKEN))
            i++;
        if (i == name_start)
            goto unsure;
        name = PyUnicode_New(i - name_start, 127);
        if (name == NULL)
            goto error;
        for (k = name_start; k < i; k++) {
            char c = s[k];
            PyUnicode_1BYTE_DATA(name)[k - name_start] =
                (Py_UCS1)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
        }
        while (i < n && IS(s[i], C_SPACE))
            i++;
        if (i >= n || s[i] != '=') {
            Py_DECREF(name);
            goto unsure;
        }
        i++;
        while (i < n && IS(s[i], C_SPACE))
            i++;
        if (i < n && s[i] == '"') {
            value_start = ++i;
            while (i < n && s[i] != '"' && s[i] != '\\' && s[i] != '\n')
                i++;
            if (i >= n || s[i] != '"') {
                Py_DECREF(name);
                goto unsure;
            }
            value_end = i++;
        } else {
            value_start = i;
            while (i < n && !IS(s[i], C_SPACE) && s[i] != ',' && s[i] != '"')
                i++;
            if (i == value_start) {
                Py_DECREF(name);
                goto unsure;
            }
            value_end = i;
        }
        while (i < n && IS(s[i], C_SPACE))
            i++;
        if (i < n) {
            if (s[i] != ',') {
                Py_DECREF(name);
                goto unsure;
            }
            i++;
            while (i < n && IS(s[i], C_SPACE))
                i++;
            if (i >= n) { /* a trailing comma */
                Py_DECREF(name);
                goto unsure;
            }
        }
        r = PyDict_Contains(params, name);
        if (r != 0) { /* a repeated directive (or an error): the Python path decides */
            Py_DECREF(name);
            if (r < 0)
                goto error;
            goto unsure;
        }
        value = ascii_str(s + value_start, value_end - value_start);
        if (value == NULL) {
            Py_DECREF(name);
            goto error;
        }
        r = PyDict_SetItem(params, name, value);
        Py_DECREF(name);
        Py_DECREF(value);
        if (r < 0)
            goto error;
    }
    if (PyDict_GET_SIZE(params) == 0)
        goto unsure;
    items[0] = ascii_str(s + a, sp - a);
    items[1] = params;
    items[2] = (a == 0 && b == t.n) ? Py_NewRef(args[0]) : ascii_str(s + a, b - a);
    items[3] = Py_NewRef(Py_None);
    return build(args[1], 4, items);
unsure:
    Py_DECREF(params);
    Py_RETURN_NONE;
error:
    Py_DECREF(params);
    return NULL;
}
