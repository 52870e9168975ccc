/*
 * nglogger._speedups: the log call's common case in C.
 *
 * ``LogMethod`` is what ``Logger.info`` and friends are when this module is built: a
 * method descriptor whose vectorcall does exactly what the pure-Python method
 * (nglogger/_event/logger.py, ``_make_method``) does for the common case, and hands
 * every other call to that Python method unchanged (``fallback``) before doing anything
 * the caller could observe. Both build the same dict and encode it with the same
 * ``orjson.dumps`` call, so they write the same bytes: tests/test_speedups.py holds them
 * to it with Hypothesis.
 *
 * The common case: an enabled level, no processors, the pipeline's ``direct`` hand-off
 * available (the storm guard, when configured, is called as the Python method calls it),
 * at most one positional argument (the message, a str no longer than max_field_length), field names all known plain, values short str, int,
 * float (finite), bool, None, bytes, or a dict/list that can fit, context checked by
 * this pipeline's redactor. Everything else is the Python method's.
 *
 * Nothing here keeps a reference to the caller's objects past the call. The module
 * state is set once by ``setup`` (from logger.py) and read with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030A0000
#error "nglogger._speedups needs Python 3.10 or later"
#endif

/* ------------------------------------------------------------------ module state */

typedef struct {
    int ready;
    PyTypeObject *logger_type;   /* Logger */
    PyTypeObject *level_type;    /* _Level */
    PyTypeObject *fragments_type;/* FragmentDict */
    PyTypeObject *storm_type;    /* StormGuard */
    Py_ssize_t off_lv, off_ctx, off_name, off_value, off_keys_in, off_rid;
    Py_ssize_t off_sites, off_period, off_limit, off_levels; /* StormGuard's slots */
    PyObject *target_dict;       /* nglogger._event.target.__dict__ */
    PyObject *context_var;       /* CONTEXT */
    PyObject *delivering;        /* DELIVERING */
    PyObject *leaves;            /* SCALARS (frozenset of types) */
    PyObject *dumps;             /* orjson.dumps */
    PyObject *encode_error;      /* orjson.JSONEncodeError */
    PyObject *options;           /* OPTIONS (int) */
    PyObject *learn_flat;        /* _learn_flat(fields, pipeline) */
    Py_ssize_t count_max;        /* _COUNT_MAX */
    Py_ssize_t flat;             /* _FLAT */
    PyObject *dumps_kwnames;     /* ("default", "option") */
    PyObject *empty;             /* "" */
} State;

static State S;

/* interned attribute names and keys */
static PyObject *s_current, *s_storm, *s_direct, *s_prepare_fields, *s_emit, *s_strict,
    *s_count_dropped, *s_memory_error, *s_encode_error, *s_timestamp, *s_level, *s_logger,
    *s_message;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* ------------------------------------------------------------------ the timestamp */
/* "YYYY-MM-DDTHH:MM:SS.mmmuuuZ" (27 characters), as nglogger/_event/timestamp.py makes
 * it: the millisecond's prefix cached, the microseconds appended. */

static long long ms_start = -1;   /* start of the cached millisecond, epoch ns */
static char ms_prefix[64];        /* "YYYY-MM-DDTHH:MM:SS.mmm" (23 used) */

static int
now_ns(long long *out)
{
#if defined(CLOCK_REALTIME) && !defined(_WIN32)
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        *out = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        return 0;
    }
#endif
    /* elsewhere: time.time_ns(), as the Python method */
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL)
        return -1;
    PyObject *ns = PyObject_CallMethod(time, "time_ns", NULL);
    Py_DECREF(time);
    if (ns == NULL)
        return -1;
    *out = PyLong_AsLongLong(ns);
    Py_DECREF(ns);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *
timestamp_str(long long ns)
{
    long long offset = ns - ms_start;
    if (ms_start < 0 || offset < 0 || offset >= 1000000) {
        long long millis = ns / 1000000;
        time_t seconds = (time_t)(millis / 1000);
        struct tm tm;
#ifdef _WIN32
        if (gmtime_s(&tm, &seconds) != 0)
            return NULL;
#else
        if (gmtime_r(&seconds, &tm) == NULL)
            return NULL;
#endif
        if (tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1000)
            return NULL; /* the Python method's strftime decides */
        snprintf(ms_prefix, sizeof ms_prefix, "%04d-%02d-%02dT%02d:%02d:%02d.%03d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(millis % 1000));
        ms_start = millis * 1000000;
        offset = ns - ms_start;
    }
    PyObject *out = PyUnicode_New(27, 127);
    if (out == NULL)
        return NULL;
    char *p = (char *)PyUnicode_1BYTE_DATA(out);
    memcpy(p, ms_prefix, 23);
    int micros = (int)(offset / 1000);
    p[23] = (char)('0' + micros / 100);
    p[24] = (char)('0' + micros / 10 % 10);
    p[25] = (char)('0' + micros % 10);
    p[26] = 'Z';
    return out;
}

/* ------------------------------------------------------------------ helpers */

/* bytes.count(b'":') */
static Py_ssize_t
count_key_ends(const char *data, Py_ssize_t size)
{
    Py_ssize_t n = 0;
    const char *p = data, *end = data + size;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL || q + 1 >= end)
            break;
        if (q[1] == ':') {
            n++;
            p = q + 2;
        }
        else
            p = q + 1;
    }
    return n;
}

static int
as_ssize(PyObject *obj, Py_ssize_t *out)
{
    if (obj == NULL)
        return -1;
    if (!PyLong_CheckExact(obj)) {
        PyErr_SetString(PyExc_TypeError, "an int was expected");
        return -1;
    }
    *out = PyLong_AsSsize_t(obj);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The call's fields as a dict (for the Python helpers that take one). */
static PyObject *
fields_dict(PyObject *const *values, PyObject *kwnames)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL || kwnames == NULL)
        return fields;
    Py_ssize_t n = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyDict_SetItem(fields, PyTuple_GET_ITEM(kwnames, i), values[i]) < 0) {
            Py_DECREF(fields);
            return NULL;
        }
    }
    return fields;
}

/* event.update(pipeline.prepare_fields(fields)); pipeline.emit(event) */
static int
slow_emit(PyObject *pipeline, PyObject *event, PyObject *const *values, PyObject *kwnames,
          int prepare)
{
    if (prepare) {
        PyObject *fields = fields_dict(values, kwnames);
        if (fields == NULL)
            return -1;
        PyObject *prepared = PyObject_CallMethodOneArg(pipeline, s_prepare_fields, fields);
        Py_DECREF(fields);
        if (prepared == NULL)
            return -1;
        int rc = PyDict_Update(event, prepared);
        Py_DECREF(prepared);
        if (rc < 0)
            return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg(pipeline, s_emit, event);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* StormGuard.__call__ (nglogger/_event/storm.py) for a call it lets through at once: the
 * levels it watches exclude this one, or its site is known, in the current window and
 * under the limit (then its count goes up by one, as the guard's own ``site[1] += 1``).
 * 1: handled (the call goes on); 0: the guard must be called; -1: an error. */
static int
storm_under_limit(PyObject *guard, PyObject *name, PyObject *template, long level, long long ns)
{
    PyObject *levels = SLOT(guard, S.off_levels), *sites = SLOT(guard, S.off_sites);
    PyObject *period_ = SLOT(guard, S.off_period), *limit_ = SLOT(guard, S.off_limit);
    if (levels == NULL || sites == NULL || period_ == NULL || limit_ == NULL ||
        !PyDict_CheckExact(sites) || !PyLong_CheckExact(period_) || !PyLong_CheckExact(limit_))
        return 0;
    if (levels != Py_None) {
        if (!PyAnySet_Check(levels))
            return 0;
        PyObject *key = PyLong_FromLong(level);
        if (key == NULL)
            return -1;
        int watched = PySet_Contains(levels, key);
        Py_DECREF(key);
        if (watched < 0)
            return -1;
        if (!watched)
            return 1; /* a level the guard does not watch: never limited */
    }
    long long period = PyLong_AsLongLong(period_), limit = PyLong_AsLongLong(limit_);
    if ((period == -1 || limit == -1) && PyErr_Occurred())
        return -1;
    if (period <= 0 || ns < 0)
        return 0;
    PyObject *key = PyTuple_Pack(2, name, template);
    if (key == NULL)
        return -1;
    PyObject *site = PyDict_GetItemWithError(sites, key); /* borrowed */
    Py_DECREF(key);
    if (site == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyList_CheckExact(site) || PyList_GET_SIZE(site) != 6)
        return 0;
    PyObject *window_ = PyList_GET_ITEM(site, 0), *seen_ = PyList_GET_ITEM(site, 1);
    if (!PyLong_CheckExact(window_) || !PyLong_CheckExact(seen_))
        return 0;
    long long window = PyLong_AsLongLong(window_), seen = PyLong_AsLongLong(seen_);
    if ((window == -1 || seen == -1) && PyErr_Occurred())
        return -1;
    if (window != ns / period || seen + 1 > limit)
        return 0; /* a new window or over the limit: the guard decides (and counts) */
    PyObject *more = PyLong_FromLongLong(seen + 1);
    if (more == NULL)
        return -1;
    PyList_SetItem(site, 1, more); /* steals the reference */
    return 1;
}

/* ------------------------------------------------------------------ LogMethod */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    long level;
    PyObject *lname;    /* "info" */
    PyObject *fallback; /* the pure-Python method */
    PyObject *dict;     /* __dict__ (functools.wraps-style attributes) */
} LogMethod;

static PyObject *
fallback(LogMethod *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

/* What the Python method's ``except`` clauses do with an exception out of the call:
 * a MemoryError or another Exception is counted (raised when ``strict``), anything
 * else (KeyboardInterrupt, SystemExit) goes on. Returns None or NULL. */
static PyObject *
contain(PyObject *pipeline)
{
    PyObject *reason;
    if (PyErr_ExceptionMatches(PyExc_MemoryError))
        reason = s_memory_error;
    else if (PyErr_ExceptionMatches(PyExc_Exception))
        reason = s_encode_error;
    else
        return NULL;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *strict = PyObject_GetAttr(pipeline, s_strict);
    int is_strict = strict == NULL ? 0 : PyObject_IsTrue(strict);
    Py_XDECREF(strict);
    if (is_strict > 0) {
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    PyErr_Clear();
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyObject *r = PyObject_CallMethodOneArg(pipeline, s_count_dropped, reason);
    if (r == NULL)
        PyErr_Clear();
    else
        Py_DECREF(r);
    Py_RETURN_NONE;
}

/* Direct[7], the pipeline's constants (nglogger/_event/target.py, ``Constants``) */
enum {
    C_MAX_FIELD_LENGTH, C_PLAIN_NAMES, C_REDACTOR, C_STATIC, C_STATIC_KEYS, C_SCAN_KEYS,
    C_REDACT_KNOWN, C_LONG_STRING_IN, C_INBOX, C_OPEN, C_LARGEST, C_FULL, C_DRAIN
};

/* Result codes of the fast path: DONE (handled, or an error set), FALLBACK (nothing
 * observable done: hand the call to the Python method). */
enum { DONE = 0, FALLBACK = 1 };

static int
fast(LogMethod *self, PyObject *pipeline, PyObject *logger, PyObject *message,
     PyObject *const *values, PyObject *kwnames)
{
    int rc = FALLBACK;
    PyObject *direct = NULL, *now = NULL, *event = NULL, *cv = NULL, *data = NULL,
             *consts = NULL, *storm = NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    long long ns;

#define GET(var, name)                              \
    do {                                            \
        Py_XDECREF(var);                            \
        var = PyObject_GetAttr(pipeline, name);     \
        if (var == NULL)                            \
            goto error;                             \
    } while (0)

    if (now_ns(&ns) < 0)
        goto error;
    storm = PyObject_GetAttr(pipeline, s_storm); /* called once the call is known ours */
    if (storm == NULL)
        goto error;
    GET(direct, s_direct);
    if (!PyTuple_CheckExact(direct) || PyTuple_GET_SIZE(direct) != 8)
        goto out;
    consts = PyTuple_GET_ITEM(direct, 7); /* borrowed from direct */
    if (!PyTuple_CheckExact(consts) || PyTuple_GET_SIZE(consts) != 13)
        goto out; /* processors: the Python method */
    if (!PyUnicode_CheckExact(message))
        goto out;

    Py_ssize_t max_field_length, max_event_bytes;
    if (as_ssize(PyTuple_GET_ITEM(consts, C_MAX_FIELD_LENGTH), &max_field_length) < 0 ||
        as_ssize(PyTuple_GET_ITEM(direct, 1), &max_event_bytes) < 0)
        goto error;
    if (PyUnicode_GET_LENGTH(message) > max_field_length)
        goto out;

    int nested = 0, learn = 0;
    Py_ssize_t flat = 0;
    if (nkw) {
        PyObject *plain = PyTuple_GET_ITEM(consts, C_PLAIN_NAMES);
        if (!PyAnySet_Check(plain))
            goto out;
        for (Py_ssize_t i = 0; i < nkw; i++) {
            int known = PySet_Contains(plain, PyTuple_GET_ITEM(kwnames, i));
            if (known < 0)
                goto error;
            if (!known)
                goto out; /* a name secret, reserved or not seen yet: _unusual_fields */
        }
        PyObject *redact_known = PyTuple_GET_ITEM(consts, C_REDACT_KNOWN);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *v = values[i];
            PyTypeObject *cls = Py_TYPE(v);
            if (cls == &PyUnicode_Type) {
                if (PyUnicode_GET_LENGTH(v) <= max_field_length)
                    continue;
            }
            else if (cls == &PyLong_Type || cls == &PyBool_Type || v == Py_None ||
                     cls == &PyBytes_Type) {
                continue;
            }
            else if (cls == &PyFloat_Type) {
                if (isfinite(PyFloat_AS_DOUBLE(v)))
                    continue;
            }
            else if (cls == &PyDict_Type || cls == &PyList_Type) {
                Py_ssize_t len = cls == &PyDict_Type ? PyDict_GET_SIZE(v) : PyList_GET_SIZE(v);
                if (len <= max_event_bytes >> 1) {
                    nested = 1;
                    if (cls == &PyDict_Type && len <= S.flat) {
                        int ok = 0;
                        if (redact_known != Py_None) {
                            PyObject *r = PyObject_CallOneArg(redact_known, v);
                            if (r == NULL)
                                goto error;
                            ok = PyObject_IsTrue(r);
                            Py_DECREF(r);
                            if (ok < 0)
                                goto error;
                        }
                        if (ok)
                            flat += len;
                        else
                            learn = 1;
                    }
                    continue;
                }
            }
            else {
                int leaf = PySet_Contains(S.leaves, (PyObject *)cls);
                if (leaf < 0)
                    goto error;
                if (leaf)
                    continue;
            }
            goto out; /* prepare_fields: the Python method */
        }
    }

    /* context: bound (checked when bound) and from contextvars */
    PyObject *ctx = SLOT(logger, S.off_ctx);
    if (ctx == NULL || Py_TYPE(ctx) != S.fragments_type)
        goto out;
    PyObject *redactor = PyTuple_GET_ITEM(consts, C_REDACTOR);
    if (PyDict_GET_SIZE(ctx) && SLOT(ctx, S.off_rid) != redactor)
        goto out; /* bound under another configuration: for_pipeline */
    if (PyContextVar_Get(S.context_var, NULL, &cv) < 0)
        goto error;
    if (cv == NULL || cv == S.delivering)
        goto out;
    if (cv != Py_None && (Py_TYPE(cv) != S.fragments_type || SLOT(cv, S.off_rid) != redactor))
        goto out;

    /* from here on the call is this function's */
    rc = DONE;
    if (storm != Py_None && Py_TYPE(storm) == S.storm_type) {
        /* StormGuard.__call__'s common case, inline: a known site, the same window, under
         * the limit (one increment); anything else is the guard's own call below */
        int handled = storm_under_limit(storm, SLOT(logger, S.off_name), message, self->level, ns);
        if (handled < 0)
            goto error;
        if (handled) {
            Py_SETREF(storm, Py_None);
            Py_INCREF(Py_None);
        }
    }
    if (storm != Py_None) { /* the storm guard: over its call site's rate, the call ends */
        PyObject *name_ = SLOT(logger, S.off_name), *level_ = PyLong_FromLong(self->level),
                 *ns_ = PyLong_FromLongLong(ns);
        PyObject *r = NULL;
        if (level_ != NULL && ns_ != NULL) {
            PyObject *call[4] = {name_, message, level_, ns_};
            r = PyObject_Vectorcall(storm, call, 4, NULL);
        }
        Py_XDECREF(level_);
        Py_XDECREF(ns_);
        if (r == NULL)
            goto error;
        int stop = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (stop < 0)
            goto error;
        if (stop)
            goto out;
    }
    now = timestamp_str(ns);
    if (now == NULL) {
        if (!PyErr_Occurred()) {
            rc = FALLBACK;
            goto out;
        }
        goto error;
    }
    PyObject *name = SLOT(logger, S.off_name);
    event = PyDict_New();
    if (event == NULL || PyDict_SetItem(event, s_timestamp, now) < 0 ||
        PyDict_SetItem(event, s_level, self->lname) < 0 ||
        PyDict_SetItem(event, s_logger, name) < 0 ||
        PyDict_SetItem(event, s_message, message) < 0)
        goto error;
    PyObject *static_ = PyTuple_GET_ITEM(consts, C_STATIC);
    if (!PyDict_Check(static_)) {
        PyErr_SetString(PyExc_TypeError, "the pipeline's static context is not a dict");
        goto error;
    }
    if (PyDict_GET_SIZE(static_) && PyDict_Update(event, static_) < 0)
        goto error;
    if (PyDict_GET_SIZE(ctx) && PyDict_Update(event, ctx) < 0)
        goto error;
    if (cv != Py_None && PyDict_Update(event, cv) < 0)
        goto error;
    for (Py_ssize_t i = 0; i < nkw; i++)
        if (PyDict_SetItem(event, PyTuple_GET_ITEM(kwnames, i), values[i]) < 0)
            goto error;

    Py_ssize_t added = 0;
    PyObject *add_ids = PyTuple_GET_ITEM(direct, 4);
    if (add_ids != Py_None) { /* trace correlation: the active span's ids */
        Py_ssize_t before = PyDict_GET_SIZE(event);
        PyObject *r = PyObject_CallOneArg(add_ids, event);
        if (r == NULL)
            goto error;
        Py_DECREF(r);
        added = PyDict_GET_SIZE(event) - before;
    }
    {
        PyObject *call[3] = {event, PyTuple_GET_ITEM(direct, 0), S.options};
        data = PyObject_Vectorcall(S.dumps, call, 1, S.dumps_kwnames);
    }
    if (data == NULL) {
        if (!PyErr_ExceptionMatches(S.encode_error) &&
            !PyErr_ExceptionMatches(PyExc_RecursionError))
            goto error;
        PyErr_Clear(); /* the pipeline's slow path */
        if (slow_emit(pipeline, event, values, kwnames, nested) < 0)
            goto error;
        goto out;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (nested) {
        /* the bytes decide, with one scan at most (see the Python method) */
        int slow = size > max_event_bytes;
        if (!slow && size > max_field_length) {
            PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(consts, C_LONG_STRING_IN), data);
            if (r == NULL)
                goto error;
            slow = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (slow < 0)
                goto error;
        }
        PyObject *scan = PyTuple_GET_ITEM(consts, C_SCAN_KEYS);
        if (!slow && scan != Py_None) {
            {
                Py_ssize_t keys = PyDict_GET_SIZE(event), own = 0, sources = 0,
                           static_keys, ctx_keys, cv_keys;
                if (cv != Py_None) {
                    if (as_ssize(SLOT(cv, S.off_keys_in), &cv_keys) < 0)
                        goto error;
                    own = cv_keys;
                    sources = PyDict_GET_SIZE(cv);
                }
                int count = size <= S.count_max &&
                            keys == 4 + PyDict_GET_SIZE(static_) + PyDict_GET_SIZE(ctx) +
                                        sources + nkw + added;
                if (count) {
                    if (as_ssize(PyTuple_GET_ITEM(consts, C_STATIC_KEYS), &static_keys) < 0 ||
                        as_ssize(SLOT(ctx, S.off_keys_in), &ctx_keys) < 0)
                        goto error;
                    count = count_key_ends(PyBytes_AS_STRING(data), size) ==
                            keys + static_keys + ctx_keys + own + flat;
                }
                if (!count) {
                    PyObject *r = PyObject_CallOneArg(scan, data);
                    if (r == NULL)
                        goto error;
                    slow = PyObject_IsTrue(r);
                    Py_DECREF(r);
                    if (slow < 0)
                        goto error;
                    if (learn && !slow) { /* no secret: remember the small dicts' names */
                        PyObject *fields = fields_dict(values, kwnames);
                        if (fields == NULL)
                            goto error;
                        PyObject *r2 = PyObject_CallFunctionObjArgs(S.learn_flat, fields,
                                                                    pipeline, NULL);
                        Py_DECREF(fields);
                        if (r2 == NULL)
                            goto error;
                        Py_DECREF(r2);
                    }
                }
            }
        }
        if (slow) {
            if (slow_emit(pipeline, event, values, kwnames, 1) < 0)
                goto error;
            goto out;
        }
    }
    else if (size > max_event_bytes) { /* the pipeline cuts it */
        if (slow_emit(pipeline, event, values, kwnames, 0) < 0)
            goto error;
        goto out;
    }
    PyObject *heads = PyTuple_GET_ITEM(direct, 5);
    if (heads != Py_None) { /* an output schema: its head's bytes swapped in */
        const char *raw = PyBytes_AS_STRING(data);
        PyObject *head = size > 52 ? PySequence_GetItem(heads, (unsigned char)raw[52]) : NULL;
        if (head == NULL && PyErr_Occurred())
            goto error;
        PyObject *swapped = NULL;
        Py_ssize_t end = -1;
        if (head != NULL && PyTuple_CheckExact(head) && PyTuple_GET_SIZE(head) == 4 &&
            PyLong_CheckExact(PyTuple_GET_ITEM(head, 1)))
            end = PyLong_AsSsize_t(PyTuple_GET_ITEM(head, 1));
        PyObject *marker = end > 41 && end <= size ? PyTuple_GET_ITEM(head, 0) : NULL;
        if (marker != NULL && PyBytes_CheckExact(marker) &&
            PyBytes_GET_SIZE(marker) == end - 41 &&
            memcmp(raw + 41, PyBytes_AS_STRING(marker), (size_t)(end - 41)) == 0) {
            PyObject *open = PyTuple_GET_ITEM(head, 2), *mid = PyTuple_GET_ITEM(head, 3);
            if (!PyBytes_CheckExact(open) || !PyBytes_CheckExact(mid)) {
                Py_DECREF(head);
                PyErr_SetString(PyExc_TypeError, "a schema head of bytes was expected");
                goto error;
            }
            Py_ssize_t lo = PyBytes_GET_SIZE(open), lm = PyBytes_GET_SIZE(mid);
            swapped = PyBytes_FromStringAndSize(NULL, lo + 27 + lm + (size - end));
            if (swapped != NULL) {
                char *w = PyBytes_AS_STRING(swapped);
                memcpy(w, PyBytes_AS_STRING(open), (size_t)lo);
                memcpy(w + lo, raw + 14, 27);
                memcpy(w + lo + 27, PyBytes_AS_STRING(mid), (size_t)lm);
                memcpy(w + lo + 27 + lm, raw + end, (size_t)(size - end));
            }
        }
        else { /* a level outside the table */
            swapped = PyObject_CallOneArg(PyTuple_GET_ITEM(direct, 6), data);
        }
        Py_XDECREF(head);
        if (swapped == NULL)
            goto error;
        Py_SETREF(data, swapped);
    }
    {
        /* the buffer's hand-off: Buffer.make_appender's small-event step, inline */
        PyObject *result = NULL;
        PyObject *inbox = PyTuple_GET_ITEM(consts, C_INBOX);
        PyObject *open = PyTuple_GET_ITEM(consts, C_OPEN);
        Py_ssize_t largest, full;
        if (as_ssize(PyTuple_GET_ITEM(consts, C_LARGEST), &largest) < 0 ||
            as_ssize(PyTuple_GET_ITEM(consts, C_FULL), &full) < 0)
            goto error;
        if (!PyList_CheckExact(inbox) || !PyList_CheckExact(open) || PyList_GET_SIZE(open) != 1) {
            PyErr_SetString(PyExc_TypeError, "the buffer's hand-off is not a list");
            goto error;
        }
        if (size <= largest && PyList_GET_ITEM(open, 0) == Py_True) {
            if (PyList_Append(inbox, data) < 0) /* a MemoryError leaves nothing half done */
                goto error;
            if (PyList_GET_SIZE(inbox) < full && PyList_GET_ITEM(open, 0) == Py_True)
                goto out; /* ACCEPTED */
            result = PyObject_CallNoArgs(PyTuple_GET_ITEM(consts, C_DRAIN));
        }
        else
            result = PyObject_CallOneArg(PyTuple_GET_ITEM(direct, 2), data);
        if (result == NULL)
            goto error;
        int truth = PyObject_IsTrue(result);
        if (truth > 0) { /* the inbox moved, a batch sealed or the event dropped */
            PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(direct, 3), result);
            Py_DECREF(result);
            if (r == NULL)
                goto error;
            Py_DECREF(r);
        }
        else {
            Py_DECREF(result);
            if (truth < 0)
                goto error;
        }
    }
    goto out;

error:
    rc = DONE; /* with an exception set: the caller contains it */
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_SystemError, "nglogger._speedups: error without exception");
out:
    Py_XDECREF(storm);
    Py_XDECREF(direct);
    Py_XDECREF(now);
    Py_XDECREF(event);
    Py_XDECREF(cv);
    Py_XDECREF(data);
    return rc;
#undef GET
}

static PyObject *
logmethod_vectorcall(LogMethod *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!S.ready || nargs < 1 || nargs > 2 || Py_TYPE(args[0]) != S.logger_type)
        return fallback(self, args, nargsf, kwnames);
    PyObject *logger = args[0];
    PyObject *cell = SLOT(logger, S.off_lv);
    if (cell == NULL || Py_TYPE(cell) != S.level_type)
        return fallback(self, args, nargsf, kwnames);
    PyObject *threshold = SLOT(cell, S.off_value);
    if (threshold == NULL || !PyLong_CheckExact(threshold))
        return fallback(self, args, nargsf, kwnames);
    long value = PyLong_AsLong(threshold);
    if (value == -1 && PyErr_Occurred())
        return NULL;
    if (self->level < value) /* this logger's level, resolved when it was made */
        Py_RETURN_NONE;
    PyObject *pipeline = PyDict_GetItemWithError(S.target_dict, s_current);
    if (pipeline == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return fallback(self, args, nargsf, kwnames);
    }
    Py_INCREF(pipeline); /* a configure() on another thread may replace it meanwhile */
    PyObject *message = nargs == 2 ? args[1] : S.empty;
    int rc = fast(self, pipeline, logger, message, args + nargs, kwnames);
    PyObject *out;
    if (rc == FALLBACK && !PyErr_Occurred())
        out = fallback(self, args, nargsf, kwnames);
    else if (PyErr_Occurred())
        out = contain(pipeline);
    else {
        out = Py_None;
        Py_INCREF(out);
    }
    Py_DECREF(pipeline);
    return out;
}

static PyObject *
logmethod_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    long level;
    PyObject *lname, *fallback_;
    static char *kwlist[] = {"level", "lname", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "lUO:LogMethod", kwlist, &level, &lname,
                                     &fallback_))
        return NULL;
    if (!PyCallable_Check(fallback_)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    LogMethod *self = (LogMethod *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)logmethod_vectorcall;
    self->level = level;
    Py_INCREF(lname);
    self->lname = lname;
    Py_INCREF(fallback_);
    self->fallback = fallback_;
    self->dict = NULL;
    return (PyObject *)self;
}

static int
logmethod_traverse(LogMethod *self, visitproc visit, void *arg)
{
    Py_VISIT(self->lname);
    Py_VISIT(self->fallback);
    Py_VISIT(self->dict);
    return 0;
}

static int
logmethod_clear(LogMethod *self)
{
    Py_CLEAR(self->lname);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->dict);
    return 0;
}

static void
logmethod_dealloc(LogMethod *self)
{
    PyObject_GC_UnTrack(self);
    logmethod_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
logmethod_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static PyObject *
logmethod_repr(LogMethod *self)
{
    return PyUnicode_FromFormat("<nglogger log method %U (C)>", self->lname);
}

static PyObject *
logmethod_get_fallback_attr(LogMethod *self, void *name)
{
    return PyObject_GetAttrString(self->fallback, (const char *)name);
}

static PyGetSetDef logmethod_getset[] = {
    {"__name__", (getter)logmethod_get_fallback_attr, NULL, NULL, "__name__"},
    {"__qualname__", (getter)logmethod_get_fallback_attr, NULL, NULL, "__qualname__"},
    {"__doc__", (getter)logmethod_get_fallback_attr, NULL, NULL, "__doc__"},
    {"__module__", (getter)logmethod_get_fallback_attr, NULL, NULL, "__module__"},
    {"__annotations__", (getter)logmethod_get_fallback_attr, NULL, NULL, "__annotations__"},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL}};

static PyMemberDef logmethod_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(LogMethod, fallback), READONLY,
     "the pure-Python method: every call this type does not handle goes to it"},
    {"level", T_LONG, offsetof(LogMethod, level), READONLY, NULL},
    {NULL}};

static PyTypeObject LogMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nglogger._speedups.LogMethod",
    .tp_basicsize = sizeof(LogMethod),
    .tp_dealloc = (destructor)logmethod_dealloc,
    .tp_vectorcall_offset = offsetof(LogMethod, vectorcall),
    .tp_repr = (reprfunc)logmethod_repr,
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A Logger level method whose common case runs in C (see the module's doc).",
    .tp_traverse = (traverseproc)logmethod_traverse,
    .tp_clear = (inquiry)logmethod_clear,
    .tp_members = logmethod_members,
    .tp_getset = logmethod_getset,
    .tp_descr_get = logmethod_descr_get,
    .tp_dictoffset = offsetof(LogMethod, dict),
    .tp_new = logmethod_new,
};

/* ------------------------------------------------------------------ KeyScanner */
/* The secret-key scan of nglogger/_event/keyscan.py in C, for installs without Hyperscan:
 * every key end (``":``) is read backwards against each name's words (ASCII, lower-case):
 * separators (-_. and space) skipped after the key and between words, each word's letters
 * matched case-insensitively (the KELVIN SIGN, E2 84 AA, matches "k", as the regex's
 * ``_letter`` has it). The same answers as the compiled regex, which searches
 * ``words[0] sep* ... words[n] sep* ":`` in the lower-cased bytes (tests hold them to it);
 * ~1 ns per byte where the regex costs ~25. */

typedef struct {
    PyObject_HEAD
    Py_ssize_t names;    /* how many names */
    Py_ssize_t *count;   /* words per name */
    Py_ssize_t *first;   /* index of each name's first word */
    Py_ssize_t *length;  /* length of each word */
    char **word;         /* the words, lower-case ASCII */
    Py_ssize_t *by_last; /* the names ordered by their last letter */
    Py_ssize_t start[257]; /* by_last[start[c]:start[c + 1]]: the names ending in c */
    PyObject *source;    /* the names as given (kept for repr and the words' memory) */
} KeyScanner;

static int
is_separator(unsigned char c)
{
    return c == '-' || c == '_' || c == '.' || c == ' ';
}

/* Does the key whose last content byte (separators after it skipped) is at ``j`` end
 * with this name's words? */
static int
name_ends_key(KeyScanner *self, Py_ssize_t name, const unsigned char *data, Py_ssize_t j)
{
    Py_ssize_t first = self->first[name];
    for (Py_ssize_t w = first + self->count[name] - 1; w >= first; w--) {
        while (j >= 0 && is_separator(data[j]))
            j--;
        const char *letters = self->word[w];
        for (Py_ssize_t i = self->length[w] - 1; i >= 0; i--) {
            if (j < 0)
                return 0;
            unsigned char c = data[j];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + ('a' - 'A'));
            if (c == (unsigned char)letters[i]) {
                j--;
                continue;
            }
            if (letters[i] == 'k' && c == 0xAA && j >= 2 && data[j - 1] == 0x84 &&
                data[j - 2] == 0xE2) {
                j -= 3; /* KELVIN SIGN */
                continue;
            }
            return 0;
        }
    }
    return 1;
}

static PyObject *
keyscanner_scan(KeyScanner *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *data = view.buf, *p = data, *end = data + view.len;
    int found = 0;
    while (!found && p < end) {
        const unsigned char *q = memchr(p, ':', (size_t)(end - p));
        if (q == NULL)
            break;
        if (q - data >= 1 && q[-1] == '"') {
            Py_ssize_t j = (q - data) - 2; /* the key's last byte */
            while (j >= 0 && is_separator(data[j]))
                j--;
            if (j >= 0) { /* only the names whose last letter this is (KELVIN SIGN: "k") */
                unsigned char c = data[j];
                if (c >= 'A' && c <= 'Z')
                    c = (unsigned char)(c + ('a' - 'A'));
                else if (c == 0xAA)
                    c = 'k';
                for (Py_ssize_t i = self->start[c]; i < self->start[c + 1] && !found; i++)
                    found = name_ends_key(self, self->by_last[i], data, j);
            }
        }
        p = q + 1;
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

static void
keyscanner_free_words(KeyScanner *self)
{
    PyMem_Free(self->count);
    PyMem_Free(self->first);
    PyMem_Free(self->length);
    PyMem_Free(self->word);
    PyMem_Free(self->by_last);
    self->by_last = NULL;
    self->count = self->first = self->length = NULL;
    self->word = NULL;
}

static PyObject *
keyscanner_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *names;
    static char *kwlist[] = {"names", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:KeyScanner", kwlist, &PyTuple_Type,
                                     &names))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(names), total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyTuple_Check(name) || PyTuple_GET_SIZE(name) == 0) {
            PyErr_SetString(PyExc_TypeError, "each name is a non-empty tuple of words");
            return NULL;
        }
        for (Py_ssize_t w = 0; w < PyTuple_GET_SIZE(name); w++) {
            PyObject *word = PyTuple_GET_ITEM(name, w);
            if (!PyBytes_Check(word) || PyBytes_GET_SIZE(word) == 0) {
                PyErr_SetString(PyExc_TypeError, "each word is non-empty bytes");
                return NULL;
            }
            const char *c = PyBytes_AS_STRING(word);
            for (Py_ssize_t k = 0; k < PyBytes_GET_SIZE(word); k++) {
                unsigned char b = (unsigned char)c[k];
                if (b >= 0x80 || (b >= 'A' && b <= 'Z') || is_separator(b) || b == '"') {
                    PyErr_SetString(PyExc_ValueError,
                                    "words are lower-case ASCII without separators");
                    return NULL;
                }
            }
        }
        total += PyTuple_GET_SIZE(name);
    }
    KeyScanner *self = (KeyScanner *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->count = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_ssize_t));
    self->first = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_ssize_t));
    self->length = PyMem_Calloc((size_t)(total ? total : 1), sizeof(Py_ssize_t));
    self->word = PyMem_Calloc((size_t)(total ? total : 1), sizeof(char *));
    self->by_last = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_ssize_t));
    if (!self->count || !self->first || !self->length || !self->word || !self->by_last) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    Py_INCREF(names);
    self->source = names; /* the words' bytes live as long as it does */
    self->names = n;
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        self->first[i] = at;
        self->count[i] = PyTuple_GET_SIZE(name);
        for (Py_ssize_t w = 0; w < self->count[i]; w++, at++) {
            PyObject *word = PyTuple_GET_ITEM(name, w);
            self->word[at] = PyBytes_AS_STRING(word);
            self->length[at] = PyBytes_GET_SIZE(word);
        }
    }
    /* counting sort of the names by the last letter of their last word */
    Py_ssize_t seen[257] = {0};
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t w = self->first[i] + self->count[i] - 1;
        seen[(unsigned char)self->word[w][self->length[w] - 1] + 1]++;
    }
    self->start[0] = 0;
    for (int c = 1; c <= 256; c++)
        self->start[c] = self->start[c - 1] + seen[c];
    Py_ssize_t fill[256];
    memcpy(fill, self->start, sizeof fill);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t w = self->first[i] + self->count[i] - 1;
        self->by_last[fill[(unsigned char)self->word[w][self->length[w] - 1]]++] = i;
    }
    return (PyObject *)self;
}

static void
keyscanner_dealloc(KeyScanner *self)
{
    keyscanner_free_words(self);
    Py_XDECREF(self->source);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef keyscanner_methods[] = {
    {"scan", (PyCFunction)keyscanner_scan, METH_O,
     "scan(data) -> bool: does this serialized JSON hold a key secret under the names?"},
    {NULL}};

static PyTypeObject KeyScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nglogger._speedups.KeyScanner",
    .tp_basicsize = sizeof(KeyScanner),
    .tp_dealloc = (destructor)keyscanner_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "KeyScanner(names): the secret-key scan in C (names: tuples of words as bytes).",
    .tp_methods = keyscanner_methods,
    .tp_new = keyscanner_new,
};

/* ------------------------------------------------------------------ setup */

static int
slot_offset(PyTypeObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name); /* borrowed */
    if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX && member->type != T_OBJECT) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *out = member->offset;
    return 0;
}

static PyObject *
setup(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"logger_type", "level_type", "fragments_type", "storm_type",
                             "target_dict", "context_var", "delivering", "leaves", "dumps",
                             "encode_error", "options", "learn_flat", "count_max", "flat",
                             NULL};
    PyObject *logger_type, *level_type, *fragments_type, *storm_type, *target_dict,
        *context_var, *delivering, *leaves, *dumps, *encode_error, *options, *learn_flat;
    Py_ssize_t count_max, flat;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "O!O!O!O!O!OOO!OOO!Onn:setup", kwlist, &PyType_Type, &logger_type,
            &PyType_Type, &level_type, &PyType_Type, &fragments_type, &PyType_Type,
            &storm_type, &PyDict_Type, &target_dict, &context_var, &delivering,
            &PyFrozenSet_Type, &leaves, &dumps, &encode_error, &PyLong_Type, &options,
            &learn_flat, &count_max, &flat))
        return NULL;
    if (!PyContextVar_CheckExact(context_var)) {
        PyErr_SetString(PyExc_TypeError, "context_var must be a ContextVar");
        return NULL;
    }
    State s = {0};
    s.logger_type = (PyTypeObject *)logger_type;
    s.level_type = (PyTypeObject *)level_type;
    s.fragments_type = (PyTypeObject *)fragments_type;
    s.storm_type = (PyTypeObject *)storm_type;
    if (slot_offset(s.storm_type, "_sites", &s.off_sites) < 0 ||
        slot_offset(s.storm_type, "_period", &s.off_period) < 0 ||
        slot_offset(s.storm_type, "_limit", &s.off_limit) < 0 ||
        slot_offset(s.storm_type, "_levels", &s.off_levels) < 0 ||
        slot_offset(s.logger_type, "_lv", &s.off_lv) < 0 ||
        slot_offset(s.logger_type, "_ctx", &s.off_ctx) < 0 ||
        slot_offset(s.logger_type, "_name", &s.off_name) < 0 ||
        slot_offset(s.level_type, "value", &s.off_value) < 0 ||
        slot_offset(s.fragments_type, "keys_in", &s.off_keys_in) < 0 ||
        slot_offset(s.fragments_type, "rid", &s.off_rid) < 0)
        return NULL;
    if (!PyType_IsSubtype(s.fragments_type, &PyDict_Type)) {
        PyErr_SetString(PyExc_TypeError, "fragments_type must be a dict subclass");
        return NULL;
    }
    /* interned: orjson matches keyword names by identity first */
    PyObject *k_default = PyUnicode_InternFromString("default");
    PyObject *k_option = PyUnicode_InternFromString("option");
    s.dumps_kwnames = k_default && k_option ? PyTuple_Pack(2, k_default, k_option) : NULL;
    Py_XDECREF(k_default);
    Py_XDECREF(k_option);
    s.empty = PyUnicode_FromStringAndSize("", 0);
    if (s.dumps_kwnames == NULL || s.empty == NULL) {
        Py_XDECREF(s.dumps_kwnames);
        Py_XDECREF(s.empty);
        return NULL;
    }
    PyObject *keep[] = {logger_type, level_type, fragments_type, storm_type, target_dict,
                        context_var, delivering, leaves, dumps, encode_error, options,
                        learn_flat};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        Py_INCREF(keep[i]); /* held for the life of the process, as the module's globals */
    s.target_dict = target_dict;
    s.context_var = context_var;
    s.delivering = delivering;
    s.leaves = leaves;
    s.dumps = dumps;
    s.encode_error = encode_error;
    s.options = options;
    s.learn_flat = learn_flat;
    s.count_max = count_max;
    s.flat = flat;
    s.ready = 1;
    S = s; /* (a second setup leaks the first state's references: it is called once) */
    Py_RETURN_NONE;
}

static PyObject *
timestamp_py(PyObject *module, PyObject *arg)
{
    long long ns = PyLong_AsLongLong(arg);
    if (ns == -1 && PyErr_Occurred())
        return NULL;
    PyObject *out = timestamp_str(ns);
    if (out == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "year out of range");
    return out;
}

static PyObject *
count_key_ends_py(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = count_key_ends(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef module_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))setup, METH_VARARGS | METH_KEYWORDS,
     "Give the log call's C path what it reads (called once, by nglogger._event.logger)."},
    {"timestamp", timestamp_py, METH_O,
     "The event timestamp of epoch nanoseconds, as the C path makes it (for tests)."},
    {"count_key_ends", count_key_ends_py, METH_O,
     "bytes.count(b'\":') as the C path counts (for tests)."},
    {NULL}};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "nglogger._speedups",
    "The log call's common case in C (see nglogger/_speedups.c).", -1, module_methods,
};

#define INTERN(var, text)                              \
    do {                                               \
        var = PyUnicode_InternFromString(text);        \
        if (var == NULL)                               \
            return NULL;                               \
    } while (0)

PyMODINIT_FUNC
PyInit__speedups(void)
{
    INTERN(s_current, "current");
    INTERN(s_storm, "storm");
    INTERN(s_direct, "direct");
    INTERN(s_prepare_fields, "prepare_fields");
    INTERN(s_emit, "emit");
    INTERN(s_strict, "strict");
    INTERN(s_count_dropped, "count_dropped");
    INTERN(s_memory_error, "memory_error");
    INTERN(s_encode_error, "encode_error");
    INTERN(s_timestamp, "timestamp");
    INTERN(s_level, "level");
    INTERN(s_logger, "logger");
    INTERN(s_message, "message");
    if (PyType_Ready(&LogMethodType) < 0 || PyType_Ready(&KeyScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&LogMethodType);
    if (PyModule_AddObject(m, "LogMethod", (PyObject *)&LogMethodType) < 0) {
        Py_DECREF(&LogMethodType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&KeyScannerType);
    if (PyModule_AddObject(m, "KeyScanner", (PyObject *)&KeyScannerType) < 0) {
        Py_DECREF(&KeyScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
