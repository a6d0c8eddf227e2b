/* sipguard.sip._accel: optional C fast paths for the SIP parser's hottest steps.
 *
 * Rules of this file:
 * - The Python parser (parser.py, headers.py, uri.py) is the reference. Every function here
 *   handles only the common spelling of its input and returns None whenever it is not sure,
 *   so the Python code decides every error and every unusual case. When a function returns
 *   a value, it is the value the Python code returns for that input, object for object
 *   (tests/sip/test_accel.py compares the two on generated, mutated and real messages).
 * - Inputs are hostile: every index is checked against the length before it is read; no
 *   recursion; no buffer is written but the fresh objects this file allocates.
 * - Only ASCII text is handled (a str that is not pure ASCII returns None at once), so one
 *   character is one byte, and "\s" of Python's re means the ASCII bytes of is_space.
 * - No mutable state: the result types (Via, SipUri, ...) and the header tables are
 *   arguments; the module state holds only interned strings, the character table below is
 *   filled once with constants.
 * - Arithmetic on caller-given limits cannot overflow (see the window in split_message).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Character classes of RFC 3261 section 25, as the Python patterns spell them. */
enum {
    C_TOKEN = 1,   /* token: alphanum - . ! % * _ + ` ' ~ */
    C_USER = 2,    /* user chars (uri.py _USER_CHARS) */
    C_PW = 4,      /* password chars (_PW_CHARS) */
    C_PARAM = 8,   /* uri-parameter chars (_PARAM_CHARS) */
    C_HOST = 16,   /* hostname chars: alphanum - _ . */
    C_AHEAD = 32,  /* the userinfo look-ahead set of SIP_URI_BODY */
    C_SPACE = 64,  /* Python re's \s on ASCII (str.isspace): \t \n \v \f \r \x1c-\x1f SP */
    C_DIGIT = 128,
};

static unsigned char cls[256];

static void init_classes(void) {
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

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int check_args(const char *name, Py_ssize_t nargs, Py_ssize_t expected) {
    if (nargs == expected)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected, nargs);
    return 0;
}

typedef struct {
    const char *s;
    Py_ssize_t n;
} Text;

/* Interned strings, made once per module object (PEP 489 module state). */
enum { K_VIA, K_FROM, K_TO, K_CALL_ID, K_CSEQ, K_MAX_FORWARDS, K_CONTENT_LENGTH, K_SIP, K_SIPS,
       K_VERSION, V_FROM, V_CALL_ID, V_MAX_FORWARDS, V_CONTENT_LENGTH, K_COUNT };
/* K_*: header keys (the index's); V_*: view names where they differ (views.py). */
static const char *const key_text[K_COUNT] = {
    "via",  "from",    "to",    "call-id", "cseq",         "max-forwards",  "content-length",
    "sip",  "sips",    "SIP/2.0", "from_", "call_id", "max_forwards", "content_length"};

typedef struct {
    PyObject *key[K_COUNT];
} State;

static State *state_of(PyObject *module) { return (State *)PyModule_GetState(module); }

/* The ASCII bytes of a str, or 0 when it is not pure ASCII (the caller returns None). */
static int ascii_text(PyObject *obj, Text *t) {
    if (!PyUnicode_Check(obj) || !PyUnicode_IS_ASCII(obj))
        return 0;
    t->s = (const char *)PyUnicode_1BYTE_DATA(obj);
    t->n = PyUnicode_GET_LENGTH(obj);
    return 1;
}

static PyObject *ascii_str(const char *s, Py_ssize_t n) {
    PyObject *out = PyUnicode_New(n, 127);
    if (out != NULL && n > 0)
        memcpy(PyUnicode_1BYTE_DATA(out), s, (size_t)n);
    return out;
}

/* 1*( chars / escaped ) unrolled as chars*( "%" HEX HEX chars* )*: the end of the run. */
static Py_ssize_t scan_escaped(const char *s, Py_ssize_t i, Py_ssize_t n, int k) {
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
static Py_ssize_t scan_host(const char *s, Py_ssize_t i, Py_ssize_t n) {
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
static Py_ssize_t scan_port(const char *s, Py_ssize_t i, Py_ssize_t n, long *port) {
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
static PyObject *param_pair(const char *s, Py_ssize_t name_start, Py_ssize_t name_end,
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
static PyObject *plain_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end) {
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

/* uri-parameters after the host (uri.py _split_uri_params over SIP_URI_BODY's params):
 * empty parameters are skipped; a piece with "=" but no name sets *doubt. */
static PyObject *uri_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end,
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

static PyObject *empty_tuple(void) { return PyTuple_New(0); }

/* Build a NamedTuple subclass instance from owned references (stolen, even on failure). */
static PyObject *build(PyObject *type, Py_ssize_t size, PyObject **items) {
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

static PyObject *port_object(long port) {
    return port < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(port);
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
static PyObject *accel_sip_uri(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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

/* name_addr(text, NameAddr, SipUri): headers.py _name_addr where _NAME_ADDR_SIP_RE matches
 * with no backslash in a quoted display name, no "?headers" and plain parameters. */
static PyObject *accel_name_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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
    items[3] = (strip_start == 0 && strip_end == n) ? Py_NewRef(args[0])
                                                    : ascii_str(s + strip_start, strip_end - strip_start);
    return build(args[1], 4, items);
unsure:
    Py_XDECREF(display);
    Py_RETURN_NONE;
error:
    Py_XDECREF(display);
    return NULL;
}

/* via(text, Via): headers.py parse_via where _VIA_FAST_RE matches:
 * "SIP/2.0/" ALPHA+ SP host [ ":" port ] plain params, nothing around it. */
static PyObject *accel_via(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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
static PyObject *accel_cseq(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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

/* auth(text, AuthValue): headers.py parse_auth for scheme SP auth-param *( "," auth-param )
 * where no quoted value holds a backslash and the rest is not a token68. */
static PyObject *accel_auth(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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
static PyObject *eager_views(PyObject *module, PyObject *fields, PyObject *index,
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
static int starts_like_status_line(PyObject *first) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(first);
    int kind = PyUnicode_KIND(first);
    const void *data = PyUnicode_DATA(first);
    return n >= 4 && (PyUnicode_READ(kind, data, 0) | 0x20) == 's' &&
           (PyUnicode_READ(kind, data, 1) | 0x20) == 'i' &&
           (PyUnicode_READ(kind, data, 2) | 0x20) == 'p' && PyUnicode_READ(kind, data, 3) == '/';
}

/* The Request-URI of "Method SP sip-or-sips-URI SP SIP/2.0" (parser.py _check_request_line),
 * or None. */
static PyObject *request_uri(PyObject *module, PyObject *first, PyObject *uri_type) {
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

static PyObject *accel_via_list(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_args("via_list", nargs, 3))
        return NULL;
    return parse_each(module, args, nargs, 1);
}

static PyObject *accel_name_addr_list(PyObject *module, PyObject *const *args,
                                      Py_ssize_t nargs) {
    if (!check_args("name_addr_list", nargs, 4))
        return NULL;
    return parse_each(module, args, nargs, 0);
}

/* get_param(params, name): grammar.py's get_param (first value of a parameter, names
 * compared case-insensitively; "" for a flag; None when absent), for tuples of pairs. */
static PyObject *accel_get_param(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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

/* header_names(spelled): SPELLED (names.py: exact spelling -> key) as a hash table over
 * bytes, so split_message finds a known name's own str objects without making a new one.
 * A snapshot: SPELLED is a constant. Returned as a capsule the parser keeps. */
typedef struct {
    Py_ssize_t len;
    const char *bytes; /* the name str's own ASCII data, kept alive by name */
    PyObject *name;
    PyObject *key;
} NameEntry;

typedef struct {
    size_t mask;
    NameEntry *slots;
} NameTable;

static const char names_capsule[] = "sipguard.sip._accel.header_names";

static size_t name_hash(const char *s, Py_ssize_t n) {
    size_t h = 2166136261u; /* FNV-1a */
    Py_ssize_t k;
    for (k = 0; k < n; k++)
        h = (h ^ (unsigned char)s[k]) * 16777619u;
    return h;
}

static const NameEntry *find_name(const NameTable *table, const char *s, Py_ssize_t n) {
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

static PyObject *accel_header_names(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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

/* split_message(data, start, max_header_size, max_headers, max_header_line, max_via,
 *               spelled, header_key, singletons, (Via, NameAddr, SipUri, CSeq))
 * parser.py's _split_head + _header_lines + _read_fields for a header section with CRLF
 * line ends, no folding, no byte above 0x7F and every limit kept. Returns
 * (start_line, fields, index, duplicate, body_start, views, request_uri) or None: views is
 * eager_views' cache, request_uri the SipUri of a plain Request-Line, else None. */
static PyObject *accel_split_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    const char *data;
    Py_ssize_t n, start, max_header_size, max_headers, max_header_line, max_via;
    Py_ssize_t window, first_eol, end, body_start, k, line_start, lines, vias = 0, nfields = 0;
    PyObject *spelled, *header_key, *singletons, *types, *views = NULL, *uri = NULL;
    const NameTable *names;
    PyObject *fields = NULL, *index = NULL, *first = NULL, *duplicate = NULL, *result = NULL;
    const char *found;
    if (!check_args("split_message", nargs, 10))
        return NULL;
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "data must be bytes");
        return NULL;
    }
    data = PyBytes_AS_STRING(args[0]);
    n = PyBytes_GET_SIZE(args[0]);
    /* A number beyond ssize_t (a limit nobody sets, or an odd start) is a doubt, not an
     * OverflowError: only SipParseError may leave parse_message. */
    if (!read_size(args[1], &start) || !read_size(args[2], &max_header_size) ||
        !read_size(args[3], &max_headers) || !read_size(args[4], &max_header_line) ||
        !read_size(args[5], &max_via)) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    spelled = args[6];
    header_key = args[7];
    singletons = args[8];
    types = args[9];
    if ((!PyDict_Check(spelled) && !PyCapsule_IsValid(spelled, names_capsule)) ||
        !PyAnySet_Check(singletons) || !PyTuple_Check(types) || PyTuple_GET_SIZE(types) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "spelled: dict or header_names(), singletons: set, types: 4-tuple");
        return NULL;
    }
    names = PyDict_Check(spelled) ? NULL : PyCapsule_GetPointer(spelled, names_capsule);
    if (start < 0 || start >= n || max_header_size <= 0)
        Py_RETURN_NONE;
    /* min(start + max_header_size, n), without overflowing for a huge limit */
    window = max_header_size < n - start ? start + max_header_size : n;
    found = memchr(data + start, '\n', (size_t)(window - start));
    if (found == NULL)
        Py_RETURN_NONE;
    first_eol = found - data;
    if (first_eol <= start || data[first_eol - 1] != '\r')
        Py_RETURN_NONE; /* bare-LF messages and odd starts: the Python path */
    end = -1;
    k = start;
    while (k + 4 <= window) { /* data.find(b"\r\n\r\n", start, window) */
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
        k++;
    }
    if (end < 0)
        Py_RETURN_NONE;
    body_start = end + 4;
    /* ASCII only, and every CR and LF paired as CRLF (no bare CR or LF); lines counted as
     * _header_lines bounds them (start line included, before unfolding). */
    lines = 1;
    for (k = start; k < end; k++) {
        unsigned char c = (unsigned char)data[k];
        if (c >= 0x80)
            Py_RETURN_NONE;
        if (c == '\r') {
            if (k + 1 >= end || data[k + 1] != '\n')
                Py_RETURN_NONE;
            k++;
            lines++;
        } else if (c == '\n') {
            Py_RETURN_NONE;
        }
    }
    if (max_headers <= 0 || (max_headers < PY_SSIZE_T_MAX / 4 && lines > 4 * max_headers))
        Py_RETURN_NONE;
    fields = PyList_New(0);
    index = PyDict_New();
    if (fields == NULL || index == NULL)
        goto error;
    line_start = start;
    while (line_start <= end) {
        const char *eol = memchr(data + line_start, '\r', (size_t)(end - line_start));
        Py_ssize_t line_end = eol != NULL ? eol - data : end;
        Py_ssize_t colon, name_end, value_start, value_end;
        PyObject *line, *name, *key, *value, *field, *positions, *position;
        if (line_end - line_start > max_header_line)
            goto unsure;
        if (first == NULL) {
            first = ascii_str(data + line_start, line_end - line_start);
            if (first == NULL)
                goto error;
            line_start = line_end + 2;
            continue;
        }
        for (colon = line_start; colon < line_end && data[colon] != ':'; colon++)
            ;
        if (colon == line_end)
            goto unsure; /* no colon: folding or a malformed line */
        name_end = colon;
        value_start = colon + 1;
        value_end = line_end;
        while (value_start < value_end && (data[value_start] == ' ' || data[value_start] == '\t'))
            value_start++;
        while (value_end > value_start && (data[value_end - 1] == ' ' || data[value_end - 1] == '\t'))
            value_end--;
        {
            const NameEntry *known =
                names != NULL ? find_name(names, data + line_start, name_end - line_start) : NULL;
            if (known != NULL) {
                name = Py_NewRef(known->name);
                key = Py_NewRef(known->key);
            } else {
                name = ascii_str(data + line_start, name_end - line_start);
                if (name == NULL)
                    goto error;
                key = names != NULL ? NULL : PyDict_GetItemWithError(spelled, name);
                if (key != NULL) {
                    Py_INCREF(key);
                } else if (PyErr_Occurred()) {
                    Py_DECREF(name);
                    goto error;
                } else {
                    key = PyObject_CallOneArg(header_key, name);
                    if (key == NULL) {
                        Py_DECREF(name);
                        goto error;
                    }
                    if (!PyUnicode_Check(key)) {
                        Py_DECREF(key);
                        Py_DECREF(name);
                        goto unsure;
                    }
                }
            }
        }
        if (key == state_of(module)->key[K_VIA] || PyUnicode_CompareWithASCIIString(key, "via") == 0) {
            Py_ssize_t m;
            vias++;
            for (m = value_start; m < value_end; m++)
                vias += data[m] == ',';
            if (vias > max_via) {
                Py_DECREF(key);
                Py_DECREF(name);
                goto unsure;
            }
        }
        positions = PyDict_GetItemWithError(index, key);
        position = PyLong_FromSsize_t(nfields);
        if (position == NULL || (positions == NULL && PyErr_Occurred())) {
            Py_XDECREF(position);
            Py_DECREF(key);
            Py_DECREF(name);
            goto error;
        }
        if (positions == NULL) {
            positions = PyList_New(1);
            if (positions == NULL || PyDict_SetItem(index, key, positions) < 0) {
                Py_XDECREF(positions);
                Py_DECREF(position);
                Py_DECREF(key);
                Py_DECREF(name);
                goto error;
            }
            PyList_SET_ITEM(positions, 0, position);
            Py_DECREF(positions);
        } else {
            int r = PyList_Append(positions, position);
            Py_DECREF(position);
            if (r < 0) {
                Py_DECREF(key);
                Py_DECREF(name);
                goto error;
            }
            if (duplicate == NULL) {
                int single = PySet_Contains(singletons, key);
                if (single < 0) {
                    Py_DECREF(key);
                    Py_DECREF(name);
                    goto error;
                }
                if (single) {
                    Py_ssize_t d = name_end;
                    while (d > line_start && (data[d - 1] == ' ' || data[d - 1] == '\t'))
                        d--;
                    duplicate = ascii_str(data + line_start, d - line_start);
                    if (duplicate == NULL) {
                        Py_DECREF(key);
                        Py_DECREF(name);
                        goto error;
                    }
                }
            }
        }
        value = ascii_str(data + value_start, value_end - value_start);
        line = ascii_str(data + line_start, line_end - line_start);
        if (value == NULL || line == NULL) {
            Py_XDECREF(value);
            Py_XDECREF(line);
            Py_DECREF(key);
            Py_DECREF(name);
            goto error;
        }
        field = PyTuple_New(4);
        if (field == NULL) {
            Py_DECREF(value);
            Py_DECREF(line);
            Py_DECREF(key);
            Py_DECREF(name);
            goto error;
        }
        PyTuple_SET_ITEM(field, 0, key);
        PyTuple_SET_ITEM(field, 1, name);
        PyTuple_SET_ITEM(field, 2, value);
        PyTuple_SET_ITEM(field, 3, line);
        if (PyList_Append(fields, field) < 0) {
            Py_DECREF(field);
            goto error;
        }
        Py_DECREF(field);
        if (++nfields > max_headers)
            goto unsure;
        line_start = line_end + 2;
    }
    if (first == NULL)
        goto unsure;
    views = eager_views(module, fields, index, types);
    if (views == NULL)
        goto error;
    if (!starts_like_status_line(first)) {
        uri = request_uri(module, first, PyTuple_GET_ITEM(types, 2));
        if (uri == NULL)
            goto error;
    } else {
        uri = Py_NewRef(Py_None);
    }
    result = Py_BuildValue("(OOOOnOO)", first, fields, index, duplicate ? duplicate : Py_None,
                           body_start, views, uri);
    goto done;
unsure:
    result = Py_NewRef(Py_None);
    goto done;
error:
    result = NULL;
done:
    Py_XDECREF(fields);
    Py_XDECREF(index);
    Py_XDECREF(first);
    Py_XDECREF(duplicate);
    Py_XDECREF(views);
    Py_XDECREF(uri);
    return result;
}

static PyMethodDef accel_methods[] = {
    {"split_message", (PyCFunction)(void (*)(void))accel_split_message, METH_FASTCALL,
     "The header section of a plain CRLF message, split and indexed, or None."},
    {"via", (PyCFunction)(void (*)(void))accel_via, METH_FASTCALL,
     "via(text, Via): a plainly spelled via-parm, or None."},
    {"name_addr", (PyCFunction)(void (*)(void))accel_name_addr, METH_FASTCALL,
     "name_addr(text, NameAddr, SipUri): a plainly spelled sip/sips name-addr, or None."},
    {"sip_uri", (PyCFunction)(void (*)(void))accel_sip_uri, METH_FASTCALL,
     "sip_uri(text, SipUri): a plainly spelled sip/sips URI, or None."},
    {"header_names", (PyCFunction)(void (*)(void))accel_header_names, METH_FASTCALL,
     "header_names(spelled): the names table split_message takes in place of the dict."},
    {"via_list", (PyCFunction)(void (*)(void))accel_via_list, METH_FASTCALL,
     "via_list(fields, positions, Via): the Vias of those fields, or None."},
    {"name_addr_list", (PyCFunction)(void (*)(void))accel_name_addr_list, METH_FASTCALL,
     "name_addr_list(fields, positions, NameAddr, SipUri): their name-addrs, or None."},
    {"get_param", (PyCFunction)(void (*)(void))accel_get_param, METH_FASTCALL,
     "get_param(params, name): grammar.get_param."},
    {"auth", (PyCFunction)(void (*)(void))accel_auth, METH_FASTCALL,
     "auth(text, AuthValue): credentials or a challenge as auth-params, or None."},
    {"cseq", (PyCFunction)(void (*)(void))accel_cseq, METH_FASTCALL,
     "cseq(text, CSeq): a CSeq value, or None."},
    {NULL, NULL, 0, NULL},
};

static int accel_exec(PyObject *module) {
    State *st = state_of(module);
    int k;
    init_classes();
    for (k = 0; k < K_COUNT; k++) {
        st->key[k] = PyUnicode_InternFromString(key_text[k]);
        if (st->key[k] == NULL)
            return -1;
    }
    return 0;
}

static int accel_traverse(PyObject *module, visitproc visit, void *arg) {
    State *st = state_of(module);
    int k;
    for (k = 0; k < K_COUNT; k++)
        Py_VISIT(st->key[k]);
    return 0;
}

static int accel_clear(PyObject *module) {
    State *st = state_of(module);
    int k;
    for (k = 0; k < K_COUNT; k++)
        Py_CLEAR(st->key[k]);
    return 0;
}

static void accel_free(void *module) { accel_clear((PyObject *)module); }

static PyModuleDef_Slot accel_slots[] = {
    {Py_mod_exec, accel_exec},
    {0, NULL},
};

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT,
    "sipguard.sip._accel",
    "Optional C fast paths for the SIP parser (see the comment at the top of _accel.c).",
    sizeof(State),
    accel_methods,
    accel_slots,
    accel_traverse,
    accel_clear,
    accel_free,
};

PyMODINIT_FUNC PyInit__accel(void) { return PyModuleDef_Init(&accel_module); }
