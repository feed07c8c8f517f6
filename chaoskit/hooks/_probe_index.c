/* The probe's C accelerator: the code index (code object -> small integer, by identity).
 *
 * Open addressing over pointers, at most half full; the lookup is in _probe_speedups.h,
 * inlined into the callbacks. Keys are borrowed: the Tracker's ``codes`` list owns them,
 * so an address cannot be reused while it is in the index. */

#include "_probe_speedups.h"

static void
index_insert(CodeIndex *ix, PyObject *key, Py_ssize_t value)
{
    size_t i = ps_slot_of(ix, key);
    while (ix->slots[i].key != NULL) {
        i = (i + 1) & ix->mask;
    }
    ix->slots[i].key = key;
    ix->slots[i].value = value;
    ix->used++;
}

/* Add ``key`` (not present yet); 0, or -1 with MemoryError set. */
int
ps_index_add(CodeIndex *ix, PyObject *key, Py_ssize_t value)
{
    if (ix->slots == NULL || (size_t)(ix->used + 1) * 2 > ix->mask + 1) {
        size_t size = ix->slots == NULL ? 64 : (ix->mask + 1) * 2;
        Slot *old = ix->slots;
        size_t old_size = old == NULL ? 0 : ix->mask + 1;
        Slot *slots = PyMem_Calloc(size, sizeof(Slot));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        ix->slots = slots;
        ix->mask = size - 1;
        ix->used = 0;
        for (size_t i = 0; i < old_size; i++) {
            if (old[i].key != NULL) {
                index_insert(ix, old[i].key, old[i].value);
            }
        }
        PyMem_Free(old);
    }
    index_insert(ix, key, value);
    return 0;
}

void
ps_index_free(CodeIndex *ix)
{
    PyMem_Free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
    ix->used = 0;
}
