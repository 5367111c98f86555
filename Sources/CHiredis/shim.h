#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/*
 * Replies built in one reusable block per connection instead of one calloc per reply
 * element (and one malloc per string) that freeReplyObject walks and frees again: a
 * `POST /leader` reads a 6-element array, which cost 8 callocs, their frees and the walk,
 * about 2,000 instructions per request (callgrind, issue 17). Baton copies every reply into
 * Swift at once and never keeps hiredis' objects, so the block is simply reset before
 * the next reply.
 *
 * The objects are hiredis' own `redisReply`, laid out and linked exactly as its default
 * functions do (hiredis 0.14 read.c / hiredis.c: createStringObject, createArrayObject,
 * createIntegerObject, createNilObject), so every reader of a redisReply reads them alike.
 * A reply larger than the block goes to blocks of its own, freed at the next reset.
 */

typedef struct baton_arena_block {
    struct baton_arena_block *next;
    size_t size;
    size_t used;
    /* the bytes follow */
} baton_arena_block;

typedef struct baton_reply_arena {
    baton_arena_block *first;   /* kept across replies */
    baton_arena_block *extra;   /* blocks of a large reply, freed at reset */
} baton_reply_arena;

static inline char *baton_arena_block_bytes(baton_arena_block *b) {
    return (char *)(b + 1);
}

static inline baton_arena_block *baton_arena_block_new(size_t size) {
    baton_arena_block *b = (baton_arena_block *)malloc(sizeof(baton_arena_block) + size);
    if (b == NULL) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

/* Zeroed memory for `n` bytes, 16-byte aligned; NULL when out of memory (hiredis then
 * reports an out-of-memory error for the reply). */
static inline void *baton_arena_alloc(baton_reply_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    baton_arena_block *b = a->first;
    if (b == NULL || b->size - b->used < n) {
        b = a->extra;
        if (b == NULL || b->size - b->used < n) {
            size_t size = n > 16384 ? n : 16384;
            b = baton_arena_block_new(size);
            if (b == NULL) return NULL;
            b->next = a->extra;
            a->extra = b;
        }
    }
    void *p = baton_arena_block_bytes(b) + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

/* Forgets every reply built so far; frees the blocks of a large one. */
static inline void baton_arena_reset(baton_reply_arena *a) {
    if (a->first != NULL) a->first->used = 0;
    while (a->extra != NULL) {
        baton_arena_block *next = a->extra->next;
        free(a->extra);
        a->extra = next;
    }
}

static inline baton_reply_arena *baton_arena_new(size_t first_block) {
    baton_reply_arena *a = (baton_reply_arena *)calloc(1, sizeof(baton_reply_arena));
    if (a == NULL) return NULL;
    a->first = baton_arena_block_new(first_block);
    return a;
}

static inline void baton_arena_free(baton_reply_arena *a) {
    if (a == NULL) return;
    baton_arena_reset(a);
    free(a->first);
    free(a);
}

/* A new object of `type`, linked into its parent array as hiredis' default functions do. */
static inline redisReply *baton_arena_object(const redisReadTask *task, int type) {
    redisReply *r = (redisReply *)baton_arena_alloc((baton_reply_arena *)task->privdata, sizeof(redisReply));
    if (r == NULL) return NULL;
    r->type = type;
    if (task->parent != NULL) {
        redisReply *parent = (redisReply *)task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static inline void *baton_arena_create_string(const redisReadTask *task, char *str, size_t len) {
    redisReply *r = baton_arena_object(task, task->type);
    if (r == NULL) return NULL;
    char *copy = (char *)baton_arena_alloc((baton_reply_arena *)task->privdata, len + 1);
    if (copy == NULL) return NULL;
    if (len > 0) memcpy(copy, str, len);
    copy[len] = '\0';
    r->str = copy;
    r->len = len;
    return r;
}

static inline void *baton_arena_create_array(const redisReadTask *task, int elements) {
    redisReply *r = baton_arena_object(task, REDIS_REPLY_ARRAY);
    if (r == NULL) return NULL;
    if (elements > 0) {
        r->element = (redisReply **)baton_arena_alloc((baton_reply_arena *)task->privdata, (size_t)elements * sizeof(redisReply *));
        if (r->element == NULL) return NULL;
    }
    r->elements = (size_t)elements;
    return r;
}

static inline void *baton_arena_create_integer(const redisReadTask *task, long long value) {
    redisReply *r = baton_arena_object(task, REDIS_REPLY_INTEGER);
    if (r == NULL) return NULL;
    r->integer = value;
    return r;
}

static inline void *baton_arena_create_nil(const redisReadTask *task) {
    return baton_arena_object(task, REDIS_REPLY_NIL);
}

/* Nothing to free one by one: the arena is reset as a whole. */
static inline void baton_arena_free_object(void *reply) {
    (void)reply;
}

static redisReplyObjectFunctions baton_arena_functions = {
    baton_arena_create_string,
    baton_arena_create_array,
    baton_arena_create_integer,
    baton_arena_create_nil,
    baton_arena_free_object,
};

/* Builds the replies `r` reads in `a` from now on. */
static inline void baton_arena_install_reader(redisReader *r, baton_reply_arena *a) {
    r->fn = &baton_arena_functions;
    r->privdata = a;
}

/* Builds the replies of `c` in `a` from now on. */
static inline void baton_arena_install(redisContext *c, baton_reply_arena *a) {
    baton_arena_install_reader(c->reader, a);
}
