/* Recycled result buffers (included once, by _kernels.pyx through
 * results.pxi, after numpy's headers).
 *
 * A NumPy memory handler (NEP 49: PyDataMem_Handler) that numpy calls for
 * the arrays allocated while it is the context's handler -- the results
 * cydrop allocates (cydrop_rc_new_like), from CYDROP_RC_MIN_BYTES on.  Its
 * free keeps a freed result's block (up to cydrop_rc_max_bytes in all,
 * oldest dropped first) and its malloc hands a kept block of exactly the
 * asked size back out; everything else goes to numpy's default handler,
 * which also asks the kernel for transparent huge pages on large blocks.
 * An array made by this handler remembers it (numpy frees an array through
 * the handler that allocated it), so only cydrop's own results come back
 * here.
 *
 * Why: memory fresh from the OS is zeroed by the kernel at the first write
 * of each page, and the fused forward, bound by Philox arithmetic, cannot
 * hide that (docs/design.md, "Results: fresh memory and streaming
 * stores").
 *
 * The free list is guarded by a PyThread lock, taken without the GIL
 * (numpy may free from any thread); nothing is called while it is held.
 */
#ifndef CYDROP_RESULT_CACHE_H
#define CYDROP_RESULT_CACHE_H

#include <Python.h>
#include <pythread.h>
#include <string.h>

#define CYDROP_RC_SLOTS 16
#define CYDROP_RC_MIN_BYTES ((size_t)1 << 20)

typedef struct { void *ptr; size_t size; } cydrop_rc_block;

static cydrop_rc_block cydrop_rc_free[CYDROP_RC_SLOTS];   /* oldest first */
static int cydrop_rc_count = 0;
static size_t cydrop_rc_held = 0;
static size_t cydrop_rc_max_bytes = (size_t)512 << 20;
static PyThread_type_lock cydrop_rc_lock = NULL;
static PyDataMem_Handler *cydrop_rc_default = NULL;   /* numpy's default handler */
static PyObject *cydrop_rc_capsule = NULL;            /* this handler, as numpy takes it */

static void *cydrop_rc_malloc(void *ctx, size_t size)
{
    void *p = NULL;
    int k, j;
    (void)ctx;
    if (size >= CYDROP_RC_MIN_BYTES) {
        PyThread_acquire_lock(cydrop_rc_lock, WAIT_LOCK);
        for (k = cydrop_rc_count - 1; k >= 0; k--) {      /* newest first */
            if (cydrop_rc_free[k].size == size) {
                p = cydrop_rc_free[k].ptr;
                for (j = k + 1; j < cydrop_rc_count; j++)
                    cydrop_rc_free[j - 1] = cydrop_rc_free[j];
                cydrop_rc_count--;
                cydrop_rc_held -= size;
                break;
            }
        }
        PyThread_release_lock(cydrop_rc_lock);
        if (p != NULL)
            return p;
    }
    return cydrop_rc_default->allocator.malloc(cydrop_rc_default->allocator.ctx, size);
}

static void *cydrop_rc_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return cydrop_rc_default->allocator.calloc(cydrop_rc_default->allocator.ctx, nelem, elsize);
}

static void *cydrop_rc_realloc(void *ctx, void *ptr, size_t new_size)
{
    (void)ctx;
    /* every block came from the default handler: its realloc takes it */
    return cydrop_rc_default->allocator.realloc(cydrop_rc_default->allocator.ctx, ptr,
                                                new_size);
}

static void cydrop_rc_free_block(void *ctx, void *ptr, size_t size)
{
    cydrop_rc_block evicted[CYDROP_RC_SLOTS + 1];
    int nevicted = 0, k;
    (void)ctx;
    if (ptr == NULL)
        return;
    if (size < CYDROP_RC_MIN_BYTES || size > cydrop_rc_max_bytes) {
        cydrop_rc_default->allocator.free(cydrop_rc_default->allocator.ctx, ptr, size);
        return;
    }
    PyThread_acquire_lock(cydrop_rc_lock, WAIT_LOCK);
    /* make room: oldest first, by count and by bytes */
    while (cydrop_rc_count > 0 && (cydrop_rc_count == CYDROP_RC_SLOTS
                                   || cydrop_rc_held + size > cydrop_rc_max_bytes)) {
        evicted[nevicted++] = cydrop_rc_free[0];
        cydrop_rc_held -= cydrop_rc_free[0].size;
        for (k = 1; k < cydrop_rc_count; k++)
            cydrop_rc_free[k - 1] = cydrop_rc_free[k];
        cydrop_rc_count--;
    }
    cydrop_rc_free[cydrop_rc_count].ptr = ptr;
    cydrop_rc_free[cydrop_rc_count].size = size;
    cydrop_rc_count++;
    cydrop_rc_held += size;
    PyThread_release_lock(cydrop_rc_lock);
    for (k = 0; k < nevicted; k++)
        cydrop_rc_default->allocator.free(cydrop_rc_default->allocator.ctx,
                                          evicted[k].ptr, evicted[k].size);
}

static PyDataMem_Handler cydrop_rc_handler = {
    "cydrop_result_cache",
    1,
    {NULL, cydrop_rc_malloc, cydrop_rc_calloc, cydrop_rc_realloc, cydrop_rc_free_block},
};

/* Set up once at import (the GIL held): 0, or -1 with an exception set. */
static int cydrop_rc_init(void)
{
    cydrop_rc_default = (PyDataMem_Handler *)PyCapsule_GetPointer(PyDataMem_DefaultHandler,
                                                                  "mem_handler");
    if (cydrop_rc_default == NULL)
        return -1;
    cydrop_rc_lock = PyThread_allocate_lock();
    if (cydrop_rc_lock == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    cydrop_rc_capsule = PyCapsule_New(&cydrop_rc_handler, "mem_handler", NULL);
    return cydrop_rc_capsule == NULL ? -1 : 0;
}

/* In a child just forked: a new lock (another thread of the parent may have
 * held the old one when it forked; the blocks are the child's copies). */
static void cydrop_rc_after_fork(void)
{
    PyThread_type_lock lock = PyThread_allocate_lock();
    if (lock != NULL)
        cydrop_rc_lock = lock;
}

/* Bound the bytes kept; what no longer fits is freed now.  Returns the
 * previous bound. */
static size_t cydrop_rc_set_max(size_t max_bytes)
{
    size_t before;
    cydrop_rc_block evicted[CYDROP_RC_SLOTS];
    int nevicted = 0, k;
    PyThread_acquire_lock(cydrop_rc_lock, WAIT_LOCK);
    before = cydrop_rc_max_bytes;
    cydrop_rc_max_bytes = max_bytes;
    while (cydrop_rc_count > 0 && cydrop_rc_held > max_bytes) {
        evicted[nevicted++] = cydrop_rc_free[0];
        cydrop_rc_held -= cydrop_rc_free[0].size;
        for (k = 1; k < cydrop_rc_count; k++)
            cydrop_rc_free[k - 1] = cydrop_rc_free[k];
        cydrop_rc_count--;
    }
    PyThread_release_lock(cydrop_rc_lock);
    for (k = 0; k < nevicted; k++)
        cydrop_rc_default->allocator.free(cydrop_rc_default->allocator.ctx,
                                          evicted[k].ptr, evicted[k].size);
    return before;
}

static size_t cydrop_rc_held_bytes(void)
{
    size_t held;
    PyThread_acquire_lock(cydrop_rc_lock, WAIT_LOCK);
    held = cydrop_rc_held;
    PyThread_release_lock(cydrop_rc_lock);
    return held;
}

/* A fresh array in ``proto``'s layout (PyArray_NewLikeArray, KEEPORDER),
 * its memory from this handler from CYDROP_RC_MIN_BYTES on -- unless the
 * context has a handler of its own (a user's PyDataMem_SetHandler): then
 * from that one, as np.empty_like would. */
static PyObject *cydrop_rc_new_like(PyArrayObject *proto)
{
    PyObject *old, *res = NULL, *back;
    int ours;
    if ((size_t)PyArray_NBYTES(proto) < CYDROP_RC_MIN_BYTES)
        return PyArray_NewLikeArray(proto, NPY_KEEPORDER, NULL, 1);
    old = PyDataMem_SetHandler(cydrop_rc_capsule);
    if (old == NULL)
        return NULL;
    ours = old == PyDataMem_DefaultHandler;
    if (ours)
        res = PyArray_NewLikeArray(proto, NPY_KEEPORDER, NULL, 1);
    back = PyDataMem_SetHandler(old);
    Py_DECREF(old);
    if (back == NULL) {
        Py_XDECREF(res);
        return NULL;
    }
    Py_DECREF(back);
    if (!ours)
        res = PyArray_NewLikeArray(proto, NPY_KEEPORDER, NULL, 1);
    return res;
}

#endif
