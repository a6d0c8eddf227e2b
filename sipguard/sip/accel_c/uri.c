/* SIP URIs and name-addrs: uri.py parse_uri, headers.py _name_addr and _addr_spec.
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* uri-parameters after the host (uri.py _split_uri_params over SIP_URI_BODY's params):
 * empty parameters are skipped; a piece with "=" but no name sets *doubt. */
PyObject *uri_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end,
                            int *doubt) {
    PyObject *list = PyList_New(0), *out;
    while (list != NULL && i < n && s[i] == ';') {
        Py_ssize_t name_start = i + 1, name_end, value_start = -1, j;
        PyObject *pair;
        name_end = scan_escaped(s, name_start, n, C_PARAM);
        j = name_end;
        if (j < n && s[j] == '=') {
            value_start = j + 1;
            j = scan_escaped(s, value_start, n, C_PARAM);
        }
        i = j;
        if (name_end == name_start) {
            if (value_start >= 0) {
                *doubt = 1;
                break;
            }
            continue;
        }
        pair = param_pair(s, name_start, name_end, value_start, j);
        if (pair == NULL || PyList_Append(list, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(pair);
    }
    *end = i;
    if (list == NULL)
        return NULL;
    out = PyList_AsTuple(list);
    Py_DECREF(list);
    return out;
}

/* The body of a sip/sips URI after "scheme:" (SIP_URI_BODY without "?headers"), from i.
 * Returns a SipUri with the given scheme and raw text, None when unsure, NULL on error. */
static PyObject *sip_uri_body(PyObject *uri_type, const char *s, Py_ssize_t i, Py_ssize_t n,
                              PyObject *scheme, PyObject *raw, Py_ssize_t *end) {
    Py_ssize_t k = i, host_start = i, host_end, j, user_end = -1, pw_start = -1, pw_end = -1;
    long port;
    int doubt = 0;
    PyObject *items[8];
    while (k < n && IS(s[k], C_AHEAD))
        k++;
    if (k < n && s[k] == '@') {
        user_end = scan_escaped(s, i, n, C_USER);
        if (user_end == i || user_end >= n)
            Py_RETURN_NONE;
        if (s[user_end] == ':') {
            pw_start = user_end + 1;
            pw_end = scan_escaped(s, pw_start, n, C_PW);
            if (pw_end >= n || s[pw_end] != '@')
                Py_RETURN_NONE;
            host_start = pw_end + 1;
        } else if (s[user_end] == '@') {
            host_start = user_end + 1;
        } else {
            Py_RETURN_NONE;
        }
    }
    host_end = scan_host(s, host_start, n);
    if (host_end < 0)
        Py_RETURN_NONE;
    j = scan_port(s, host_end, n, &port);
    if (j < 0)
        Py_RETURN_NONE;
    items[0] = Py_NewRef(scheme);
    items[1] = ascii_str(s + host_start, host_end - host_start);
    items[2] = user_end >= 0 ? ascii_str(s + i, user_end - i) : Py_NewRef(Py_None);
    items[3] = pw_start >= 0 ? ascii_str(s + pw_start, pw_end - pw_start) : Py_NewRef(Py_None);
    items[4] = port_object(port);
    items[5] = uri_params(s, j, n, end, &doubt);
    items[6] = empty_tuple();
    items[7] = Py_NewRef(raw);
    if (doubt) {
        int k2;
        for (k2 = 0; k2 < 8; k2++)
            Py_XDECREF(items[k2]);
        Py_RETURN_NONE;
    }
    return build(uri_type, 8, items);
}

/* sip_uri(text, SipUri): uri.py parse_uri for a plain "sip:" or "sips:" URI without
 * ?headers; None for anything else. */
PyObject *accel_sip_uri(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    Py_ssize_t start, end;
    PyObject *scheme, *uri;
    if (!check_args("sip_uri", nargs, 2))
        return NULL;
    if (!ascii_text(args[0], &t))
        Py_RETURN_NONE;
    if (t.n > 4 && memcmp(t.s, "sip:", 4) == 0)
        start = 4;
    else if (t.n > 5 && memcmp(t.s, "sips:", 5) == 0)
        start = 5;
    else
        Py_RETURN_NONE;
    scheme = state_of(module)->key[start == 4 ? K_SIP : K_SIPS];
    uri = sip_uri_body(args[1], t.s, start, t.n, scheme, args[0], &end);
    if (uri != NULL && uri != Py_None && end != t.n) {
        Py_DECREF(uri);
        Py_RETURN_NONE;
    }
    return uri;
}

/* headers.py _addr_spec for a text with no "<" (neither name-addr pattern can match one):
 * "sip:" or "sips:" URI up to the first ";", then plain parameters, no blank inside. */
static PyObject *addr_spec(PyObject *module, PyObject *text, const char *s, Py_ssize_t n,
                           PyObject *name_addr_type, PyObject *uri_type) {
    Py_ssize_t a = 0, b = n, uri_end, start, end, k;
    PyObject *scheme, *uri_text, *uri, *params, *items[4];
    while (a < b && IS(s[a], C_SPACE))
        a++;
    while (b > a && IS(s[b - 1], C_SPACE))
        b--;
    for (k = a; k < b; k++)
        if (IS(s[k], C_SPACE) || s[k] == '"' || s[k] == '>' || s[k] == '?')
            Py_RETURN_NONE;
    if (b - a > 4 && memcmp(s + a, "sip:", 4) == 0)
        start = a + 4;
    else if (b - a > 5 && memcmp(s + a, "sips:", 5) == 0)
        start = a + 5;
    else
        Py_RETURN_NONE;
    for (uri_end = a; uri_end < b && s[uri_end] != ';'; uri_end++)
        ;
    scheme = state_of(module)->key[start - a == 4 ? K_SIP : K_SIPS];
    uri_text = ascii_str(s + a, uri_end - a);
    if (uri_text == NULL)
        return NULL;
    uri = sip_uri_body(uri_type, s, start, uri_end, scheme, uri_text, &end);
    Py_DECREF(uri_text);
    if (uri == NULL || uri == Py_None)
        return uri;
    if (end != uri_end) {
        Py_DECREF(uri);
        Py_RETURN_NONE;
    }
    params = plain_params(s, uri_end, b, &end);
    if (params == NULL) {
        Py_DECREF(uri);
        return NULL;
    }
    if (end != b) {
        Py_DECREF(uri);
        Py_DECREF(params);
        Py_RETURN_NONE;
    }
    items[0] = uri;
    items[1] = Py_NewRef(Py_None);
    items[2] = params;
    items[3] = (a == 0 && b == n) ? Py_NewRef(text) : ascii_str(s + a, b - a);
    return build(name_addr_type, 4, items);
}

/* name_addr(text, NameAddr, SipUri): headers.py _name_addr where _NAME_ADDR_SIP_RE matches
 * with no backslash in a quoted display name, no "?headers" and plain parameters; or, for a
 * text without "<", its addr-spec form. */
PyObject *accel_name_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    const char *s;
    Py_ssize_t n, i = 0, j, uri_start, scheme_end, end, strip_start, strip_end;
    PyObject *display = NULL, *scheme, *raw, *uri, *params, *items[4];
    if (!check_args("name_addr", nargs, 3))
        return NULL;
    if (!ascii_text(args[0], &t))
        Py_RETURN_NONE;
    s = t.s;
    n = t.n;
    if (memchr(s, '<', (size_t)n) == NULL)
        return addr_spec(module, args[0], s, n, args[1], args[2]);
    while (i < n && IS(s[i], C_SPACE))
        i++;
    strip_start = i;
    if (i < n && s[i] == '"') {
        /* quoted-string without quoted-pairs */
        j = i + 1;
        while (j < n && s[j] != '"' && s[j] != '\\')
            j++;
        if (j >= n || s[j] != '"')
            Py_RETURN_NONE;
        display = ascii_str(s + i + 1, j - i - 1);
        if (display == NULL)
            return NULL;
        i = j + 1;
        while (i < n && IS(s[i], C_SPACE))
            i++;
    } else if (i < n && IS(s[i], C_TOKEN)) {
        /* *(token LWS): words joined by one space */
        char *buf;
        Py_ssize_t len = 0;
        j = i;
        buf = PyMem_Malloc((size_t)(n - i) + 1);
        if (buf == NULL)
            return PyErr_NoMemory();
        while (j < n && IS(s[j], C_TOKEN)) {
            if (len > 0)
                buf[len++] = ' ';
            while (j < n && IS(s[j], C_TOKEN))
                buf[len++] = s[j++];
            while (j < n && IS(s[j], C_SPACE))
                j++;
        }
        display = ascii_str(buf, len);
        PyMem_Free(buf);
        if (display == NULL)
            return NULL;
        i = j;
    }
    if (i >= n || s[i] != '<')
        goto unsure;
    uri_start = ++i;
    if (i + 3 >= n || (s[i] | 0x20) != 's' || (s[i + 1] | 0x20) != 'i' || (s[i + 2] | 0x20) != 'p')
        goto unsure;
    scheme_end = i + 3;
    if ((s[scheme_end] | 0x20) == 's')
        scheme_end++;
    if (scheme_end >= n || s[scheme_end] != ':')
        goto unsure;
    scheme = state_of(module)->key[scheme_end - uri_start == 3 ? K_SIP : K_SIPS];
    /* The URI's raw text runs to the ">"; found first, then the body must end there. */
    j = uri_start;
    while (j < n && s[j] != '>')
        j++;
    if (j >= n)
        goto unsure;
    raw = ascii_str(s + uri_start, j - uri_start);
    if (raw == NULL)
        goto error;
    uri = sip_uri_body(args[2], s, scheme_end + 1, j, scheme, raw, &end);
    Py_DECREF(raw);
    if (uri == NULL)
        goto error;
    if (uri == Py_None || end != j) {
        Py_DECREF(uri);
        goto unsure;
    }
    params = plain_params(s, j + 1, n, &end);
    if (params == NULL) {
        Py_DECREF(uri);
        goto error;
    }
    while (end < n && IS(s[end], C_SPACE))
        end++;
    if (end != n) {
        Py_DECREF(uri);
        Py_DECREF(params);
        goto unsure;
    }
    strip_end = n;
    while (strip_end > strip_start && IS(s[strip_end - 1], C_SPACE))
        strip_end--;
    items[0] = uri;
    items[1] = display != NULL ? display : Py_NewRef(Py_None);
    items[2] = params;
    items[3] = (strip_start == 0 && strip_end == n)
                   ? Py_NewRef(args[0])
                   : ascii_str(s + strip_start, strip_end - strip_start);
    return build(args[1], 4, items);
unsure:
    Py_XDECREF(display);
    Py_RETURN_NONE;
error:
    Py_XDECREF(display);
    return NULL;
}
