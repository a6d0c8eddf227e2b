/* sipguard.sip._accel: optional C fast paths for the SIP parser's hottest steps.
 *
 * Rules of every file in this folder:
 * - The Python parser (parser.py, headers.py, credentials.py, uri.py) is the reference.
 *   Every function here handles only the common spelling of its input and returns None
 *   whenever it is not sure, so the Python code decides every error and every unusual
 *   case. When a function returns a value, it is the value the Python code returns for
 *   that input, object for object (tests/sip/test_accel.py compares the two on generated,
 *   mutated and real messages).
 * - Inputs are hostile: every index is checked against the length before it is read; no
 *   recursion; no buffer is written but the fresh objects these files allocate.
 * - Only ASCII text is handled (a str that is not pure ASCII returns None at once), so one
 *   character is one byte, and "\s" of Python's re means the ASCII bytes of is_space.
 * - No mutable state: the result types (Via, SipUri, ...) and the header tables are
 *   arguments; the module state holds only interned strings, the character table (scan.c) is
 *   filled once with constants.
 * - Arithmetic on caller-given limits cannot overflow (see the window in split_message).
 */
#ifndef SIPGUARD_ACCEL_H
#define SIPGUARD_ACCEL_H

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

#define IS(c, k) (cls[(unsigned char)(c)] & (k))


typedef struct {
    const char *s;
    Py_ssize_t n;
} Text;

/* Interned strings, made once per module object (PEP 489 module state). */
enum { K_VIA, K_FROM, K_TO, K_CALL_ID, K_CSEQ, K_MAX_FORWARDS, K_CONTENT_LENGTH, K_SIP, K_SIPS,
       K_VERSION, V_FROM, V_CALL_ID, V_MAX_FORWARDS, V_CONTENT_LENGTH, K_COUNT };

typedef struct {
    PyObject *key[K_COUNT];
} State;

static inline State *state_of(PyObject *module) { return (State *)PyModule_GetState(module); }

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

/* scan.c */
extern unsigned char cls[256];
void init_classes(void);
int check_args(const char *name, Py_ssize_t nargs, Py_ssize_t expected);
int ascii_text(PyObject *obj, Text *t);
PyObject *ascii_str(const char *s, Py_ssize_t n);
Py_ssize_t scan_escaped(const char *s, Py_ssize_t i, Py_ssize_t n, int k);
Py_ssize_t scan_host(const char *s, Py_ssize_t i, Py_ssize_t n);
Py_ssize_t scan_port(const char *s, Py_ssize_t i, Py_ssize_t n, long *port);
PyObject *param_pair(const char *s, Py_ssize_t name_start, Py_ssize_t name_end,
                     Py_ssize_t value_start, Py_ssize_t value_end);
PyObject *plain_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end);
PyObject *empty_tuple(void);
PyObject *build(PyObject *type, Py_ssize_t size, PyObject **items);
PyObject *port_object(long port);

/* uri.c */
PyObject *uri_params(const char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *end, int *doubt);
PyObject *accel_sip_uri(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *accel_name_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* values.c */
PyObject *accel_via(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *accel_cseq(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *accel_auth(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* eager.c */
PyObject *eager_views(PyObject *module, PyObject *fields, PyObject *index, PyObject *types);
int starts_like_status_line(PyObject *first);
PyObject *request_uri(PyObject *module, PyObject *first, PyObject *uri_type);

/* views.c */
PyObject *accel_via_list(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *accel_name_addr_list(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *accel_get_param(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* names.c */
extern const char names_capsule[];
const NameEntry *find_name(const NameTable *table, const char *s, Py_ssize_t n);
PyObject *accel_header_names(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* split.c */
PyObject *accel_split_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
