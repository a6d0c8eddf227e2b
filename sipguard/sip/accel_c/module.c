/* The module: its functions, and its state (interned strings).
 * (sipguard.sip._accel: see accel.h for the rules every file here follows.) */
#include "accel.h"

/* K_*: header keys (the index's); V_*: view names where they differ (views.py). */
static const char *const key_text[K_COUNT] = {
    "via",  "from",    "to",    "call-id", "cseq",         "max-forwards",  "content-length",
    "sip",  "sips",    "SIP/2.0", "from_", "call_id", "max_forwards", "content_length"};

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
    "Optional C fast paths for the SIP parser (see accel_c/accel.h in the source).",
    sizeof(State),
    accel_methods,
    accel_slots,
    accel_traverse,
    accel_clear,
    accel_free,
};

PyMODINIT_FUNC PyInit__accel(void) { return PyModuleDef_Init(&accel_module); }
