/* The record loop of hikscan.passive.pipeline, in C (optional; see docs/FUZZING.md).
 *
 * Loop(...).run(buf, pos) walks the records wholly inside buf from pos, exactly as the inner
 * `while pos + 16 <= end:` loop of pyloop.pcap_ethernet_loop does, and returns (pos, stopped).
 * The reader's refills, cuts and corrupt-length handling stay in Python. Ethernet, Linux cooked (SLL,
 * SLL2: `tcpdump -i any`) or raw IP framing (the first three with up to four VLAN tags) + IPv4 (IHL 5,
 * not a fragment) + TCP/UDP is decoded here; everything else goes to the
 * Python objects given (Decoder.decode_frame, FlowTable.add, pyloop.hand_over). New flows are made by
 * FlowTable.add(Packet(...)); known flows are counted here, field by field, as the Python loop does,
 * with the same per-direction cache, cleared at the same moments (whenever the table evicted).
 * With pcapng=True the records are pcapng Enhanced Packet Blocks of the section's interfaces of those types
 * (frame_ng); capture/pcapng.py walks the other blocks and calls run() before each one it reads.
 *
 * The module also gives flows.Flow its layout, FlowFields (the fields as C values; see below), which the
 * loop reads and writes in place.
 *
 * Safety: every byte read is at an offset checked against the record's end, which is checked
 * against the buffer's length (the same checks the Python loop makes); nothing is copied into
 * fixed-size buffers except the 13-byte keys built from fixed-size header fields. Flow fields are
 * read and written through the class's member descriptors' offsets (and their C types) only for objects
 * whose type is exactly the Flow class given (else through getattr/setattr).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#ifndef Py_READONLY
#define Py_READONLY READONLY
#endif

#if PY_VERSION_HEX >= 0x030E0000
#define HASH_BYTES(p, n) Py_HashBuffer((p), (n))
#else
#define HASH_BYTES(p, n) _Py_HashBytes((p), (n))
#endif

/* Flow fields the loop reads or writes. */
enum {
    F_LAST_SEEN, F_FIRST_SEEN, F_C2S_LAST, F_PACKETS_C2S, F_BYTES_C2S, F_PACKETS_S2C, F_BYTES_S2C,
    F_CLIENT_MAC, F_SERVER_MAC, F_TCP_FLAGS, F_INSPECTED, F_SKETCHED, F_CLIENT, F_CLIENT_PORT, F_BEATS,
    F_BEAT0, F_BEAT_LOG, F_KEY, F_PROTO, F_VERSION, F_VLANS, F_SERVER, F_SERVER_PORT, F_FOLDED_PACKETS,
    F_FOLDED_BYTES, F_SYN_AT, F_RTT, NFIELDS
};
static const char *field_text[NFIELDS] = {
    "last_seen", "first_seen", "c2s_last", "packets_c2s", "bytes_c2s", "packets_s2c", "bytes_s2c",
    "client_mac", "server_mac", "tcp_flags", "inspected", "sketched", "client", "client_port", "beats",
    "beat0", "beat_log", "key", "proto", "version", "vlans", "server", "server_port", "folded_packets",
    "folded_bytes", "syn_at", "rtt",
};
static PyObject *field_name[NFIELDS];
/* How a Flow field is stored: a PyObject* slot (a Python class's __slots__), or a C value of the
 * FlowFields layout below (a double, a long long, an int or a bool: no Python object per number). */
enum { K_OBJ = 1, K_DOUBLE, K_LLONG, K_INT, K_BOOL };
/* Each field's kind in the FlowFields layout: the loop makes a new flow itself only in that layout. */
static const unsigned char field_layout[NFIELDS] = {
    K_DOUBLE, K_DOUBLE, K_DOUBLE, K_LLONG, K_LLONG, K_LLONG, K_LLONG, K_OBJ, K_OBJ, K_INT, K_LLONG, K_BOOL,
    K_OBJ, K_INT, K_LLONG, K_DOUBLE, K_OBJ, K_OBJ, K_INT, K_INT, K_OBJ, K_OBJ, K_INT, K_LLONG, K_LLONG,
    K_DOUBLE, K_DOUBLE,
};
static PyObject *s_append, *s_beat, *s_warn, *s_base, *s_pos, *s_position, *s_evicted, *s_expire, *s_get,
    *s_max_flows, *s_shared, *s_sketch, *s_total_flows, *one;

/* ---- the per-direction cache: (proto, src, dst, sport, dport) as on the wire → (flow, c2s) ---- */
#define KEYLEN 13
#define CACHE_MIN 1024
/* The most slots: a cache this size that fills is emptied, not grown. Four per flow of the engine's table
 * (flows.ENGINE_FLOWS, 65,536): each open flow's two directions, the table at most half full. At 24 bytes
 * a slot that is ≤ 96 bytes a flow, within the 600 the budget charges one (a FieldsFlow is ~300 with its
 * by_key entry), and 6 MiB in all. At a quarter of that, a capture with 50,000 flows open emptied it a
 * dozen times in 1M packets, and every direction was looked up again by key: ~15% of the reading. */
#define CACHE_MAX (1 << 18)

typedef struct {
    unsigned char key[KEYLEN];
    unsigned char used;
    unsigned char c2s;
    PyObject *flow; /* strong reference */
} Entry;

typedef struct {
    Entry *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
    size_t limit;   /* the most slots (Loop's cache_slots, default CACHE_MAX): full there, it is emptied */
    size_t emptied; /* times it was emptied for being full */
} Cache;

static int cache_init(Cache *c, size_t capacity)
{
    c->slots = PyMem_Calloc(capacity, sizeof(Entry));
    if (c->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    c->mask = capacity - 1;
    c->count = 0;
    return 0;
}

static Entry *cache_slot(const Cache *c, const unsigned char *key, Py_hash_t hash)
{
    size_t i = (size_t)hash & c->mask;
    for (;;) { /* the table is never more than half full: an empty slot is always reached */
        Entry *e = &c->slots[i];
        if (!e->used || memcmp(e->key, key, KEYLEN) == 0)
            return e;
        i = (i + 1) & c->mask;
    }
}

/* Empty the cache, back to CACHE_MIN slots (`keep`: as many slots as now). The old entries are released
 * after the cache is consistent again, so that code run by a release (none for Flow) sees an empty cache. */
static int cache_empty(Cache *c, int keep)
{
    if (c->count == 0)
        return 0;
    Entry *old = c->slots;
    size_t n = c->mask + 1;
    size_t least = c->limit < CACHE_MIN ? c->limit : CACHE_MIN;
    if (cache_init(c, keep ? n : n > least ? least : n) < 0) {
        c->slots = old; /* keep the old table: still consistent (cache_init failed before the mask) */
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (old[i].used)
            Py_DECREF(old[i].flow);
    PyMem_Free(old);
    return 0;
}

static int cache_clear(Cache *c)
{
    return cache_empty(c, 0);
}

static int cache_put(Cache *c, const unsigned char *key, Py_hash_t hash, PyObject *flow, int c2s)
{
    size_t n = c->mask + 1;
    if ((c->count + 1) * 2 > n) { /* half full: grow, or at the limit empty (its flows are found by key) */
        if (n >= c->limit) {
            if (cache_empty(c, 1) < 0)
                return -1;
            c->emptied++;
        } else {
            Entry *old = c->slots;
            if (cache_init(c, n * 2) < 0) {
                c->slots = old;
                return -1;
            }
            for (size_t i = 0; i < n; i++) {
                if (old[i].used) {
                    *cache_slot(c, old[i].key, HASH_BYTES(old[i].key, KEYLEN)) = old[i];
                    c->count++;
                }
            }
            PyMem_Free(old);
        }
    }
    Entry *e = cache_slot(c, key, hash);
    PyObject *prev = e->used ? e->flow : NULL;
    if (!e->used) {
        memcpy(e->key, key, KEYLEN);
        e->used = 1;
        c->count++;
    }
    Py_INCREF(flow);
    e->flow = flow;
    e->c2s = (unsigned char)c2s;
    Py_XDECREF(prev);
    return 0;
}

/* ---- the Loop object ---------------------------------------------------------------------- */
#define GATE_ROWS 255 /* bound ports per transport with a row of their own; past that, they share the last */

/* The link layers the inline path reads (decode.Decoder.decode_frame's framing of each): Ethernet, Linux
 * cooked capture v1 and v2 (`tcpdump -i any`), and raw IP. LINK_NONE: every record to the decoder. */
enum { LINK_NONE, LINK_ETHERNET, LINK_SLL, LINK_SLL2, LINK_RAW };

static int link_of(long linktype)
{
    switch (linktype) {
    case 1: /* LINKTYPE_ETHERNET */
        return LINK_ETHERNET;
    case 113: /* LINKTYPE_LINUX_SLL */
        return LINK_SLL;
    case 276: /* LINKTYPE_LINUX_SLL2 */
        return LINK_SLL2;
    case 12: case 14: case 101: case 228: case 229: /* decode._RAW_TYPES */
        return LINK_RAW;
    default:
        return LINK_NONE;
    }
}

/* A pcapng interface as frame_ng reads its packets: its link layer (taken unless LINK_NONE), link type,
 * if_tsresol and if_tsoffset. */
typedef struct {
    int link;
    long linktype;
    double ts_div, ts_offset;
} Iface;

typedef struct {
    PyObject_HEAD
    PyObject *reader, *flows, *by_key, *decode, *add, *on_payload, *tick, *hand_over, *packet_cls,
        *flow_cls, *handshake_rtt, *always, *inspect_limit, *beat_gap_obj, *evicted, *empty_tuple;
    PyObject *vlan_tuple; /* the VLAN IDs of the last tagged record made into a Packet or flow (shared) */
    double ts_div, beat_gap;
    int link;        /* a classic pcap's link layer (LINK_*) and link type */
    long linktype;
    unsigned long long snaplen, max_caplen;
    long inspect_per_flow;
    long long beat_log;    /* flows.BEAT_LOG: beats logged per flow (0: every beat by Flow.beat) */
    int c_layout;          /* flow_cls has every field as FlowFields lays it out (field_layout), by offset */
    int open_in_c;         /* new flows made here (open_flow), not by FlowTable.add */
    Py_ssize_t max_shared; /* flows.MAX_SHARED (FlowTable._share_addresses) */
    PyObject *array_type;  /* array.array: a beat log the loop appends to itself */
    int big, direct, packet_direct, always_is_ports, warned_orig, warned_snap;
    /* pcapng: records are Enhanced Packet Blocks of the section's interfaces with a link (frame_ng); the
     * reader (capture/pcapng.py) gives the section's byte order and interfaces through interfaces(). */
    int ng;
    Py_ssize_t n_ifaces, cap_ifaces;
    Iface *ifaces;
    unsigned char always_port[65536 / 8];
    /* The payload gate (passive/gate.py), per transport (0 TCP, 1 UDP); learnt NULL: no gate. */
    PyObject *learnt;
    Py_ssize_t max_scan;
    unsigned char call_ports[2][65536 / 8], call_first[2][256 / 8], scan_first[2][256 / 8];
    unsigned char scan_row_of[2][65536]; /* port -> its row in scan_rows + 1 (0: no signature bound to it) */
    unsigned char scan_rows[2][GATE_ROWS][256 / 8];
    Py_ssize_t off[NFIELDS];
    unsigned char kind[NFIELDS];
    PyMemberDef *member[NFIELDS];
    Py_ssize_t packet_off[14]; /* Packet's slots, in the order of Packet.__init__'s arguments */
    long long n, wire, ip, with_payload;
    Cache cache;
} Loop;

static inline uint32_t rd32(const unsigned char *p, int big)
{
    if (big)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

#define MAX_TS 253402300800.0 /* capture.base.MAX_TS: year 10000 */

/* decode.VLAN_TPIDS and decode.MAX_VLANS: a frame with more tags is the decoder's (it counts it malformed). */
#define MAX_VLANS 4
static inline int vlan_tpid(unsigned t)
{
    return t == 0x8100 || t == 0x88A8 || t == 0x9100;
}

/* One record in the buffer: its framing and, for the inline path, where its headers are. */
typedef struct {
    PyObject *buf;        /* the reader's buffer (borrowed) */
    const unsigned char *p; /* its bytes */
    int exact;            /* buf is exactly bytes: slices are made without calling buf */
    uint32_t sec, frac, caplen;
    unsigned long wirelen;
    Py_ssize_t at, s, nxt, next; /* the record at p[at:next]; its frame's bytes p[s:nxt] */
    Py_ssize_t ipo, l4, data, stop; /* IPv4 and L4 header offsets; payload p[data:stop]; data -1: not inline */
    int proto, flags, sport, dport;
    int link;             /* the record's link layer (LINK_*) and link type */
    long linktype;
    Py_ssize_t smac, dmac; /* where its source and destination MACs are (classify), -1: none (Packet: None) */
    int nvlan, vlan[MAX_VLANS]; /* 802.1Q/802.1ad tags before the IPv4 header: their VLAN IDs, outer first */
    double ts;
    PyObject *ts_obj;
} Rec;

/* Frame the record at pos: 0 when it is not wholly inside the buffer's `end` bytes or its caplen is over
 * the limit (PcapReader's rules); the loop stops there and the reader refills. */
static int frame(const Loop *L, const unsigned char *p, Py_ssize_t pos, Py_ssize_t end, Rec *r)
{
    if (pos > end - 16)
        return 0;
    const unsigned char *h = p + pos;
    r->sec = rd32(h, L->big);
    r->frac = rd32(h + 4, L->big);
    r->caplen = rd32(h + 8, L->big);
    r->wirelen = rd32(h + 12, L->big);
    r->at = pos;
    r->s = pos + 16;
    r->nxt = r->next = r->s + (Py_ssize_t)r->caplen;
    r->ts = (double)r->sec + (double)r->frac / L->ts_div;
    r->link = L->link;
    r->linktype = L->linktype;
    return !(r->nxt > end || r->caplen > L->max_caplen);
}

/* pcapng: frame the Enhanced Packet Block at pos, as PcapngReader._blocks and _packet read it; 0 for
 * anything else or anything they would warn about (another block type, a length that is not whole in
 * the buffer or not possible, an interface not declared or of a link the loop does not read, a packet longer than its
 * block, a timestamp out of range): the loop stops there and the reader takes that block. */
static int frame_ng(const Loop *L, const unsigned char *p, Py_ssize_t pos, Py_ssize_t end, Rec *r)
{
    if (pos > end - 28)
        return 0;
    const unsigned char *h = p + pos;
    uint32_t btype = rd32(h, L->big), blen = rd32(h + 4, L->big), ifid = rd32(h + 8, L->big);
    if (btype != 6 || blen < 32 || (blen & 3) || blen > L->max_caplen || (Py_ssize_t)blen > end - pos ||
        ifid >= (uint64_t)L->n_ifaces || L->ifaces[ifid].link == LINK_NONE)
        return 0;
    uint64_t units = ((uint64_t)rd32(h + 12, L->big) << 32) | rd32(h + 16, L->big);
    const Iface *f = &L->ifaces[ifid];
    r->ts = (double)units / f->ts_div + f->ts_offset;
    r->link = f->link;
    r->linktype = f->linktype;
    r->caplen = rd32(h + 20, L->big);
    r->wirelen = rd32(h + 24, L->big);
    r->at = pos;
    r->s = pos + 28;
    r->next = pos + (Py_ssize_t)blen;
    if ((Py_ssize_t)r->caplen > r->next - 4 - r->s || !(r->ts >= 0.0 && r->ts < MAX_TS))
        return 0;
    r->nxt = r->s + (Py_ssize_t)r->caplen;
    return 1;
}

static inline int frame_any(const Loop *L, const unsigned char *p, Py_ssize_t pos, Py_ssize_t end, Rec *r)
{
    return L->ng ? frame_ng(L, p, pos, end, r) : frame(L, p, pos, end, r);
}

/* The inline path's test: a link header (Ethernet, SLL, SLL2: up to MAX_VLANS VLAN tags after it; raw
 * IP: none), then IPv4 (IHL 5, not a fragment) + TCP/UDP. Sets r->data to the payload's start, or -1, and
 * where the MACs are, as decode_frame takes them. The link header is read only when caplen holds it and
 * 40 bytes more; each tag only when its 4 bytes are inside the record; ipo + 40 <= nxt puts every byte read
 * after the tags (up to ipo + 20 + 13) inside it; the L4 reads are further checked against `stop`, at most
 * the record's end. */
static void classify(const unsigned char *p, Rec *r)
{
    Py_ssize_t s = r->s, ipo, l4, stop;
    unsigned etype;
    r->data = -1;
    r->nvlan = 0;
    r->smac = r->dmac = -1;
    switch (r->link) {
    case LINK_ETHERNET:
        if (r->caplen < 14 + 40)
            return;
        r->dmac = s;
        r->smac = s + 6;
        etype = ((unsigned)p[s + 12] << 8) | p[s + 13];
        ipo = s + 14;
        break;
    case LINK_SLL: /* packet type, ARPHRD type, address length, address (8), protocol */
        if (r->caplen < 16 + 40)
            return;
        if (p[s + 4] == 0 && p[s + 5] == 6)
            r->smac = s + 6;
        etype = ((unsigned)p[s + 14] << 8) | p[s + 15];
        ipo = s + 16;
        break;
    case LINK_SLL2: /* protocol, reserved, interface index, ARPHRD type, packet type, address length, address */
        if (r->caplen < 20 + 40)
            return;
        if (p[s + 11] == 6)
            r->smac = s + 12;
        etype = ((unsigned)p[s] << 8) | p[s + 1];
        ipo = s + 20;
        break;
    case LINK_RAW:
        if (r->caplen < 40)
            return;
        etype = p[s] >> 4 == 4 ? 0x0800 : 0;
        ipo = s;
        break;
    default:
        return;
    }
    while (vlan_tpid(etype)) {
        if (r->nvlan == MAX_VLANS || ipo + 4 > r->nxt)
            return;
        r->vlan[r->nvlan++] = (((int)p[ipo] << 8) | p[ipo + 1]) & 0x0FFF;
        etype = ((unsigned)p[ipo + 2] << 8) | p[ipo + 3];
        ipo += 4;
    }
    l4 = ipo + 20;
    if (!(etype == 0x0800 && ipo + 40 <= r->nxt && p[ipo] == 0x45 && !((p[ipo + 6] & 0x3F) || p[ipo + 7])))
        return;
    int proto = p[ipo + 9];
    stop = ipo + ((p[ipo + 2] << 8) | p[ipo + 3]);
    if (stop > r->nxt)
        stop = r->nxt;
    if (proto == 6 && l4 + 20 <= stop) {
        Py_ssize_t doff = (p[l4 + 12] >> 4) * 4;
        if (doff < 20 || l4 + doff > stop)
            return;
        r->data = l4 + doff;
        r->flags = p[l4 + 13] | ((p[l4 + 12] & 1) << 8);
    } else if (proto == 17 && l4 + 8 <= stop) {
        Py_ssize_t ulen = (p[l4 + 4] << 8) | p[l4 + 5];
        if (ulen >= 8 && l4 + ulen < stop)
            stop = l4 + ulen;
        r->data = l4 + 8;
        r->flags = 0;
    } else {
        return;
    }
    r->ipo = ipo;
    r->l4 = l4;
    r->stop = stop;
    r->proto = proto;
    r->sport = (p[l4] << 8) | p[l4 + 1];
    r->dport = (p[l4 + 2] << 8) | p[l4 + 3];
}

/* The direction cache's key of an inline record: protocol, then src, dst, sport, dport as on the wire. */
static void dir_key(const unsigned char *p, const Rec *r, unsigned char *key)
{
    key[0] = (unsigned char)r->proto;
    memcpy(key + 1, p + r->ipo + 12, 8);
    memcpy(key + 9, p + r->l4, 4);
}

/* Is flow read and written by offset (the Flow class seen by find_offsets, exactly)? */
static inline int direct_flow(const Loop *L, PyObject *flow)
{
    return L->direct && Py_IS_TYPE(flow, (PyTypeObject *)L->flow_cls);
}

#define FIELD_AT(L, flow, f) ((char *)(flow) + (L)->off[f])

/* A Flow field: new reference, or NULL with an exception set. */
static PyObject *field_get(Loop *L, PyObject *flow, int f)
{
    if (direct_flow(L, flow)) {
        if (L->kind[f] != K_OBJ)
            return PyMember_GetOne((const char *)flow, L->member[f]);
        PyObject *v = *(PyObject **)FIELD_AT(L, flow, f);
        if (v == NULL) {
            PyErr_SetObject(PyExc_AttributeError, field_name[f]);
            return NULL;
        }
        return Py_NewRef(v);
    }
    return PyObject_GetAttr(flow, field_name[f]);
}

/* Set a Flow field to v (borrowed). */
static int field_set(Loop *L, PyObject *flow, int f, PyObject *v)
{
    if (direct_flow(L, flow)) {
        if (L->kind[f] != K_OBJ)
            return PyMember_SetOne((char *)flow, L->member[f], v);
        PyObject **slot = (PyObject **)FIELD_AT(L, flow, f);
        PyObject *old = *slot;
        *slot = Py_NewRef(v);
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(flow, field_name[f], v);
}

/* Set a time field to the record's time (a C double in place, where the field is one). */
static int field_set_ts(Loop *L, PyObject *flow, int f, const Rec *r)
{
    if (direct_flow(L, flow) && L->kind[f] == K_DOUBLE) {
        *(double *)FIELD_AT(L, flow, f) = r->ts;
        return 0;
    }
    return field_set(L, flow, f, r->ts_obj);
}

/* flow.<f> += delta (or |= when `or` is set; delta >= 0), with Python int semantics. */
static int field_add(Loop *L, PyObject *flow, int f, long long delta, int or)
{
    if (direct_flow(L, flow) && L->kind[f] == K_LLONG) {
        long long *p = (long long *)FIELD_AT(L, flow, f);
        if (or) {
            *p |= delta;
        } else if (*p > LLONG_MAX - delta) {
            PyErr_Format(PyExc_OverflowError, "Flow.%U out of range", field_name[f]);
            return -1;
        } else {
            *p += delta;
        }
        return 0;
    }
    if (direct_flow(L, flow) && L->kind[f] == K_INT) {
        int *p = (int *)FIELD_AT(L, flow, f);
        long long x = or ? ((long long)*p | delta) : (long long)*p + delta;
        if (x >= INT_MIN && x <= INT_MAX) {
            *p = (int)x;
            return 0;
        }
    }
    PyObject *v = field_get(L, flow, f), *r = NULL;
    if (v == NULL)
        return -1;
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow); /* cannot fail on an int */
        if (!overflow) {
            if (or) {
                if ((x | delta) == x) { /* unchanged: nothing to store */
                    Py_DECREF(v);
                    return 0;
                }
                r = PyLong_FromLongLong(x | delta);
            } else if (x >= 0 && x <= LLONG_MAX - delta) {
                r = PyLong_FromLongLong(x + delta);
            }
            if (r == NULL && PyErr_Occurred()) {
                Py_DECREF(v);
                return -1;
            }
        }
    }
    if (r == NULL) {
        PyObject *d = PyLong_FromLongLong(delta);
        if (d == NULL) {
            Py_DECREF(v);
            return -1;
        }
        r = or ? PyNumber_InPlaceOr(v, d) : PyNumber_InPlaceAdd(v, d);
        Py_DECREF(d);
    }
    Py_DECREF(v);
    if (r == NULL)
        return -1;
    int rc = field_set(L, flow, f, r);
    Py_DECREF(r);
    return rc;
}

/* A whole-number field as a C value: 1 and *out set when it is stored as one, 0 when it is an object. */
static inline int field_long(const Loop *L, PyObject *flow, int f, long long *out)
{
    if (!direct_flow(L, flow))
        return 0;
    switch (L->kind[f]) {
    case K_LLONG:
        *out = *(long long *)FIELD_AT(L, flow, f);
        return 1;
    case K_INT:
        *out = *(int *)FIELD_AT(L, flow, f);
        return 1;
    case K_BOOL:
        *out = *(char *)FIELD_AT(L, flow, f) != 0;
        return 1;
    default:
        return 0;
    }
}

/* `ts <op> flow.<f>`: 1, 0, or -1 on error. */
static int field_cmp_ts(Loop *L, PyObject *flow, int f, const Rec *r, int op)
{
    if (direct_flow(L, flow) && L->kind[f] == K_DOUBLE) {
        double d = *(double *)FIELD_AT(L, flow, f);
        return op == Py_GT ? r->ts > d : r->ts < d;
    }
    PyObject *v = field_get(L, flow, f);
    int res;
    if (v == NULL)
        return -1;
    if (PyFloat_CheckExact(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        res = op == Py_GT ? r->ts > d : r->ts < d;
    } else {
        res = PyObject_RichCompareBool(r->ts_obj, v, op);
    }
    Py_DECREF(v);
    return res;
}

/* `flow.<f> is None`: 1, 0, or -1 on error (in direct mode without touching the value). */
static int field_is_none(Loop *L, PyObject *flow, int f)
{
    if (direct_flow(L, flow) && L->kind[f] == K_OBJ) {
        PyObject *v = *(PyObject **)FIELD_AT(L, flow, f);
        if (v == NULL) {
            PyErr_SetObject(PyExc_AttributeError, field_name[f]);
            return -1;
        }
        return v == Py_None;
    }
    PyObject *v = field_get(L, flow, f);
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    return v == Py_None;
}

static PyObject *slice(const Rec *r, Py_ssize_t a, Py_ssize_t b)
{
    if (b < a)
        b = a;
    if (r->exact)
        return PyBytes_FromStringAndSize((const char *)r->p + a, b - a);
    return PySequence_GetSlice(r->buf, a, b);
}

/* The 6-byte MAC at `off` in the record (classify's smac or dmac), or None where it has none. */
static PyObject *mac_at(const Rec *r, Py_ssize_t off)
{
    return off < 0 ? Py_NewRef(Py_None) : slice(r, off, off + 6);
}

static int warn(Loop *L, const char *fmt, Py_ssize_t pos, unsigned long x, unsigned long y)
{
    PyObject *base = PyObject_GetAttr(L->reader, s_base), *at = NULL, *here = NULL, *msg = NULL, *r = NULL;
    if (base != NULL && (here = PyLong_FromSsize_t(pos)) != NULL && (at = PyNumber_Add(base, here)) != NULL &&
        (msg = PyUnicode_FromFormat(fmt, at, x, y)) != NULL)
        r = PyObject_CallMethodOneArg(L->reader, s_warn, msg);
    Py_XDECREF(base);
    Py_XDECREF(here);
    Py_XDECREF(at);
    Py_XDECREF(msg);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* After FlowTable.add or expire: if the table evicted since we last looked, empty the cache. */
static int check_evicted(Loop *L)
{
    PyObject *ev = PyObject_GetAttr(L->flows, s_evicted);
    if (ev == NULL)
        return -1;
    int changed = PyObject_RichCompareBool(ev, L->evicted, Py_NE);
    if (changed <= 0) {
        Py_DECREF(ev);
        return changed;
    }
    Py_SETREF(L->evicted, ev);
    return cache_clear(&L->cache);
}

/* The record's VLAN IDs as Decoder.decode_frame gives them: a tuple of ints, outer tag first; () untagged.
 * Consecutive tagged records mostly carry the same tags: they share one tuple. New reference. */
static PyObject *vlans_of(Loop *L, const Rec *r)
{
    if (r->nvlan == 0)
        return Py_NewRef(L->empty_tuple);
    PyObject *last = L->vlan_tuple;
    if (last != NULL && PyTuple_GET_SIZE(last) == r->nvlan) {
        int same = 1;
        for (int i = 0; i < r->nvlan && same; i++)
            same = PyLong_AsLong(PyTuple_GET_ITEM(last, i)) == r->vlan[i];
        if (same)
            return Py_NewRef(last);
    }
    PyObject *t = PyTuple_New(r->nvlan);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < r->nvlan; i++) {
        PyObject *v = PyLong_FromLong(r->vlan[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    Py_XSETREF(L->vlan_tuple, Py_NewRef(t));
    return t;
}

/* Packet(ts, src_mac, dst_mac, vlans, 4, src, dst, proto, sport, dport, flags, wirelen, payload, 0). */
static PyObject *make_packet(Loop *L, const Rec *r)
{
    PyObject *args[14] = {NULL};
    PyObject *pkt = NULL;
    Py_ssize_t ipo = r->ipo;
    args[0] = Py_NewRef(r->ts_obj);
    args[1] = mac_at(r, r->smac);
    args[2] = mac_at(r, r->dmac);
    args[3] = vlans_of(L, r);
    args[4] = PyLong_FromLong(4);
    args[5] = slice(r, ipo + 12, ipo + 16);
    args[6] = slice(r, ipo + 16, ipo + 20);
    args[7] = PyLong_FromLong(r->proto);
    args[8] = PyLong_FromLong(r->sport);
    args[9] = PyLong_FromLong(r->dport);
    args[10] = PyLong_FromLong(r->flags);
    args[11] = PyLong_FromUnsignedLong(r->wirelen);
    args[12] = slice(r, r->data, r->stop);
    args[13] = PyLong_FromLong(0);
    int ok = 1;
    for (int i = 0; i < 14; i++)
        ok &= args[i] != NULL;
    if (ok && L->packet_direct) {
        /* What Packet(*args) was seen to do (find_packet_layout): a new object, each argument in its
         * slot. The references move from args to the object. */
        PyTypeObject *type = (PyTypeObject *)L->packet_cls;
        if ((pkt = type->tp_alloc(type, 0)) != NULL) {
            for (int i = 0; i < 14; i++) {
                *(PyObject **)((char *)pkt + L->packet_off[i]) = args[i];
                args[i] = NULL;
            }
        }
    } else if (ok) {
        pkt = PyObject_Vectorcall(L->packet_cls, args, 14, NULL);
    }
    for (int i = 0; i < 14; i++)
        Py_XDECREF(args[i]);
    return pkt;
}

/* Is a payload with these ports always inspected (ALWAYS_INSPECT)? 1, 0 or -1. */
static int always_inspected(Loop *L, int sport, int dport)
{
    if (L->always_is_ports)
        return ((L->always_port[sport >> 3] >> (sport & 7)) & 1) ||
               ((L->always_port[dport >> 3] >> (dport & 7)) & 1);
    int ports[2] = {sport, dport};
    for (int i = 0; i < 2; i++) {
        PyObject *o = PyLong_FromLong(ports[i]);
        if (o == NULL)
            return -1;
        int res = PySequence_Contains(L->always, o);
        Py_DECREF(o);
        if (res != 0)
            return res;
    }
    return 0;
}

static int truth_of_call(PyObject *res)
{
    if (res == NULL)
        return -1;
    int t = PyObject_IsTrue(res);
    Py_DECREF(res);
    return t;
}

/* A new UDP beat of the flow at the record's time: Flow.beat, in C for a flow in the FlowFields layout
 * (c_layout) once its log exists (the first beat is only counted, the second makes the log in Python),
 * else by calling Flow.beat. The same fields change the same way. */
static int beat(Loop *L, PyObject *flow, const Rec *r)
{
    if (L->c_layout && L->beat_log > 0 && direct_flow(L, flow)) {
        long long *beats = (long long *)FIELD_AT(L, flow, F_BEATS);
        long long n = *beats;
        PyObject *log = *(PyObject **)FIELD_AT(L, flow, F_BEAT_LOG);
        if (n == 0) {
            *beats = 1;
            *(double *)FIELD_AT(L, flow, F_BEAT0) = r->ts;
            return 0;
        }
        if (n >= L->beat_log && n < LLONG_MAX) {
            *beats = n + 1;
            return 0;
        }
        if (log != NULL && Py_IS_TYPE(log, (PyTypeObject *)L->array_type)) { /* n > 0 here */
            double size = (double)*(long long *)FIELD_AT(L, flow, F_BYTES_C2S);
            *beats = n + 1;
            PyObject *t = PyFloat_FromDouble(r->ts), *b = t == NULL ? NULL : PyFloat_FromDouble(size);
            int rc = b == NULL || truth_of_call(PyObject_CallMethodOneArg(log, s_append, t)) < 0 ||
                     truth_of_call(PyObject_CallMethodOneArg(log, s_append, b)) < 0;
            Py_XDECREF(t);
            Py_XDECREF(b);
            return rc ? -1 : 0;
        }
    }
    return truth_of_call(PyObject_CallMethodOneArg(flow, s_beat, r->ts_obj));
}

/* One inline record of a known flow: FlowTable.add's updates, in its order. */
static int count_known(Loop *L, PyObject *flow, int c2s, const Rec *r)
{
    int res = field_cmp_ts(L, flow, F_LAST_SEEN, r, Py_GT);
    if (res < 0)
        return -1;
    if (res) {
        if (field_set_ts(L, flow, F_LAST_SEEN, r) < 0)
            return -1;
    } else {
        res = field_cmp_ts(L, flow, F_FIRST_SEEN, r, Py_LT);
        if (res < 0 || (res && field_set_ts(L, flow, F_FIRST_SEEN, r) < 0))
            return -1;
    }
    int packets = c2s ? F_PACKETS_C2S : F_PACKETS_S2C, bytes = c2s ? F_BYTES_C2S : F_BYTES_S2C;
    int mac = c2s ? F_CLIENT_MAC : F_SERVER_MAC;
    if (c2s == 2) { /* the UDP timing sketch */
        if (direct_flow(L, flow) && L->kind[F_C2S_LAST] == K_DOUBLE) {
            res = r->ts - *(double *)FIELD_AT(L, flow, F_C2S_LAST) >= L->beat_gap;
        } else {
            PyObject *last = field_get(L, flow, F_C2S_LAST);
            if (last == NULL)
                return -1;
            if (PyFloat_CheckExact(last)) {
                res = r->ts - PyFloat_AS_DOUBLE(last) >= L->beat_gap;
            } else {
                PyObject *gap = PyNumber_Subtract(r->ts_obj, last);
                res = gap == NULL ? -1 : PyObject_RichCompareBool(gap, L->beat_gap_obj, Py_GE);
                Py_XDECREF(gap);
            }
            Py_DECREF(last);
        }
        if (res < 0 || (res && beat(L, flow, r) < 0))
            return -1;
        if (field_set_ts(L, flow, F_C2S_LAST, r) < 0)
            return -1;
    }
    if (field_add(L, flow, packets, 1, 0) < 0 || field_add(L, flow, bytes, (long long)r->wirelen, 0) < 0)
        return -1;
    res = field_is_none(L, flow, mac);
    if (res < 0)
        return -1;
    if (res && r->smac >= 0) { /* FlowTable.add: a MAC is set when the packet has one */
        PyObject *v = mac_at(r, r->smac);
        if (v == NULL)
            return -1;
        res = field_set(L, flow, mac, v);
        Py_DECREF(v);
        if (res < 0)
            return -1;
    }
    return field_add(L, flow, F_TCP_FLAGS, r->flags, 1);
}

/* The direction of an inline record in its flow: 0 from the server, 1 from the client, 2 from the client
 * of a sketched flow; -1 on error. As the Python loop: sport == flow.client_port and src == flow.client. */
static int direction(Loop *L, PyObject *flow, const Rec *r)
{
    long long value;
    int res;
    if (field_long(L, flow, F_CLIENT_PORT, &value)) {
        res = value == r->sport;
    } else {
        PyObject *port = field_get(L, flow, F_CLIENT_PORT);
        if (port == NULL)
            return -1;
        long v = PyLong_CheckExact(port) ? PyLong_AsLong(port) : -1;
        if (v == -1) { /* not a plain int, an overflow, or -1 itself: compare as Python does */
            PyErr_Clear();
            PyObject *o = PyLong_FromLong(r->sport);
            res = o == NULL ? -1 : PyObject_RichCompareBool(o, port, Py_EQ);
            Py_XDECREF(o);
        } else {
            res = v == r->sport;
        }
        Py_DECREF(port);
    }
    if (res <= 0)
        return res;
    PyObject *client = field_get(L, flow, F_CLIENT);
    if (client == NULL)
        return -1;
    if (PyBytes_CheckExact(client)) {
        res = PyBytes_GET_SIZE(client) == 4 && memcmp(PyBytes_AS_STRING(client), r->p + r->ipo + 12, 4) == 0;
    } else {
        PyObject *src = slice(r, r->ipo + 12, r->ipo + 16);
        res = src == NULL ? -1 : PyObject_RichCompareBool(src, client, Py_EQ);
        Py_XDECREF(src);
    }
    Py_DECREF(client);
    if (res <= 0)
        return res;
    if (field_long(L, flow, F_SKETCHED, &value))
        return value ? 2 : 1;
    PyObject *sk = field_get(L, flow, F_SKETCHED);
    if (sk == NULL)
        return -1;
    res = PyObject_IsTrue(sk);
    Py_DECREF(sk);
    return res < 0 ? -1 : res ? 2 : 1;
}

/* FlowTable.add's new flow for an inline record, made here in the FlowFields layout: Flow.__init__'s
 * fields, the table's sketch predicate, _share_addresses, the by_key entry and total_flows. Its first
 * packet is then counted as any other (count_known). New reference; Py_None when the table is full
 * (FlowTable.add, which evicts first, makes it then). */
static PyObject *open_flow(Loop *L, const Rec *r, PyObject *key)
{
    PyObject *o = PyObject_GetAttr(L->flows, s_max_flows);
    if (o == NULL)
        return NULL;
    Py_ssize_t most = PyLong_AsSsize_t(o);
    Py_DECREF(o);
    if (most == -1 && PyErr_Occurred())
        return NULL;
    if (PyDict_GET_SIZE(L->by_key) >= most)
        return Py_NewRef(Py_None);
    int flags = r->flags, sport = r->sport, dport = r->dport; /* flows._client_is_src: */
    int from_client = (flags & 0x12) == 0x12 ? 0 : (flags & 0x02) ? 1 : !(sport < 1024 && 1024 <= dport);
    PyObject *src = slice(r, r->ipo + 12, r->ipo + 16), *dst = slice(r, r->ipo + 16, r->ipo + 20);
    PyObject *src_mac = mac_at(r, r->smac), *dst_mac = mac_at(r, r->dmac), *flow = NULL;
    PyObject *vlans = vlans_of(L, r);
    PyTypeObject *type = (PyTypeObject *)L->flow_cls;
    if (src == NULL || dst == NULL || src_mac == NULL || dst_mac == NULL || vlans == NULL ||
        (flow = type->tp_alloc(type, 0)) == NULL)
        goto done;
    char *f = (char *)flow; /* zeroed: every count 0, every object field NULL until set below */
#define OBJ(F) (*(PyObject **)(f + L->off[F]))
#define DBL(F) (*(double *)(f + L->off[F]))
    OBJ(F_KEY) = Py_NewRef(key);
    *(int *)(f + L->off[F_PROTO]) = r->proto;
    *(int *)(f + L->off[F_VERSION]) = 4;
    OBJ(F_VLANS) = Py_NewRef(vlans);
    OBJ(F_CLIENT) = Py_NewRef(from_client ? src : dst);
    OBJ(F_SERVER) = Py_NewRef(from_client ? dst : src);
    *(int *)(f + L->off[F_CLIENT_PORT]) = from_client ? sport : dport;
    *(int *)(f + L->off[F_SERVER_PORT]) = from_client ? dport : sport;
    OBJ(F_CLIENT_MAC) = Py_NewRef(from_client ? src_mac : dst_mac);
    OBJ(F_SERVER_MAC) = Py_NewRef(from_client ? dst_mac : src_mac);
    DBL(F_FIRST_SEEN) = DBL(F_LAST_SEEN) = r->ts;
    OBJ(F_BEAT_LOG) = Py_NewRef(Py_None);
    int sketched = r->proto == 17;
    *(char *)(f + L->off[F_SKETCHED]) = (char)sketched;
    if (from_client && sketched) {
        DBL(F_C2S_LAST) = DBL(F_BEAT0) = r->ts;
        *(long long *)(f + L->off[F_BEATS]) = 1;
    } else {
        DBL(F_C2S_LAST) = -Py_HUGE_VAL;
    }
    DBL(F_SYN_AT) = from_client && (flags & 0x12) == 0x02 ? r->ts : -1.0;
    DBL(F_RTT) = -1.0;
    PyObject *sketch = sketched ? PyObject_GetAttr(L->flows, s_sketch) : Py_NewRef(Py_None), *shared = NULL;
    int keep = sketch == NULL ? -1 : sketch == Py_None ? 1 : truth_of_call(PyObject_CallOneArg(sketch, flow));
    Py_XDECREF(sketch);
    if (keep < 0)
        goto fail;
    if (!keep) {
        *(char *)(f + L->off[F_SKETCHED]) = 0;
        *(long long *)(f + L->off[F_BEATS]) = 0;
    }
    if ((shared = PyObject_GetAttr(L->flows, s_shared)) == NULL)
        goto fail;
    if (!PyDict_CheckExact(shared)) {
        PyErr_SetString(PyExc_TypeError, "FlowTable._shared must be a dict");
        goto fail;
    }
    if (PyDict_GET_SIZE(shared) >= L->max_shared)
        PyDict_Clear(shared);
    static const int share[4] = {F_CLIENT, F_SERVER, F_CLIENT_MAC, F_SERVER_MAC};
    for (int i = 0; i < 4; i++) {
        if (OBJ(share[i]) == Py_None) /* no MAC: FlowTable._share_addresses leaves it */
            continue;
        PyObject *v = PyDict_SetDefault(shared, OBJ(share[i]), OBJ(share[i]));
        if (v == NULL)
            goto fail;
        Py_SETREF(OBJ(share[i]), Py_NewRef(v));
    }
#undef OBJ
#undef DBL
    if (PyDict_SetItem(L->by_key, key, flow) < 0)
        goto fail;
    PyObject *total = PyObject_GetAttr(L->flows, s_total_flows), *more = NULL;
    int rc = total == NULL || (more = PyNumber_Add(total, one)) == NULL ||
             PyObject_SetAttr(L->flows, s_total_flows, more) < 0;
    Py_XDECREF(total);
    Py_XDECREF(more);
    if (rc)
        goto fail;
    Py_DECREF(shared);
    goto done;
fail:
    Py_XDECREF(shared);
    Py_CLEAR(flow);
done:
    Py_XDECREF(src);
    Py_XDECREF(dst);
    Py_XDECREF(src_mac);
    Py_XDECREF(dst_mac);
    Py_XDECREF(vlans);
    return flow;
}

/* The flow of an inline record, new reference: from the direction cache, else by its canonical key in
 * flows.by_key, else a new flow: made here (open_flow), or made and counted by FlowTable.add, *pkt then
 * its first Packet. */
static PyObject *find_flow(Loop *L, const Rec *r, const unsigned char *key, Py_hash_t hash, int *c2s,
                           PyObject **pkt)
{
    const unsigned char *p = r->p;
    Entry *e = cache_slot(&L->cache, key, hash);
    if (e->used) {
        *c2s = e->c2s;
        return Py_NewRef(e->flow);
    }
    /* flow_key: the lower of (src, sport) and (dst, dport) as 6 bytes each first, then the protocol */
    unsigned char a[6], b[6], ck[KEYLEN];
    memcpy(a, p + r->ipo + 12, 4);
    memcpy(a + 4, p + r->l4, 2);
    memcpy(b, p + r->ipo + 16, 4);
    memcpy(b + 4, p + r->l4 + 2, 2);
    int lower = memcmp(a, b, 6) <= 0;
    memcpy(ck, lower ? a : b, 6);
    memcpy(ck + 6, lower ? b : a, 6);
    ck[12] = (unsigned char)r->proto;
    PyObject *kobj = PyBytes_FromStringAndSize((const char *)ck, KEYLEN), *flow;
    if (kobj == NULL)
        return NULL;
    if (PyDict_CheckExact(L->by_key)) {
        flow = PyDict_GetItemWithError(L->by_key, kobj);
        Py_XINCREF(flow);
        if (flow == NULL && PyErr_Occurred()) {
            Py_DECREF(kobj);
            return NULL;
        }
    } else {
        flow = PyObject_CallMethodOneArg(L->by_key, s_get, kobj);
        if (flow == NULL) {
            Py_DECREF(kobj);
            return NULL;
        }
        if (flow == Py_None)
            Py_CLEAR(flow);
    }
    if (flow == NULL && L->open_in_c) {
        flow = open_flow(L, r, kobj);
        if (flow == NULL) {
            Py_DECREF(kobj);
            return NULL;
        }
        if (flow == Py_None)
            Py_CLEAR(flow);
    }
    Py_DECREF(kobj);
    if (flow == NULL) {
        *pkt = make_packet(L, r);
        if (*pkt == NULL)
            return NULL;
        flow = PyObject_CallOneArg(L->add, *pkt);
        if (flow == NULL || check_evicted(L) < 0) {
            Py_XDECREF(flow);
            return NULL;
        }
    }
    *c2s = direction(L, flow, r);
    if (*c2s < 0 || cache_put(&L->cache, key, hash, flow, *c2s) < 0) {
        Py_DECREF(flow);
        return NULL;
    }
    return flow;
}

/* A frame the inline path does not take: Decoder.decode_frame → FlowTable.add → _hand_over. */
static int slow_path(Loop *L, const Rec *r)
{
    PyObject *args[4] = {r->ts_obj, NULL, NULL, NULL}, *pkt = NULL, *flow = NULL, *given = NULL;
    int rc = -1;
    args[1] = PyLong_FromLong(r->linktype);
    args[2] = slice(r, r->s, r->nxt);
    args[3] = PyLong_FromUnsignedLong(r->wirelen);
    if (args[1] && args[2] && args[3])
        pkt = PyObject_Vectorcall(L->decode, args, 4, NULL);
    Py_XDECREF(args[1]);
    Py_XDECREF(args[2]);
    Py_XDECREF(args[3]);
    if (pkt == NULL)
        return -1;
    if (pkt == Py_None) {
        Py_DECREF(pkt);
        return 0;
    }
    L->ip++;
    flow = PyObject_CallOneArg(L->add, pkt);
    if (flow != NULL) {
        PyObject *hargs[3] = {pkt, flow, L->on_payload};
        given = PyObject_Vectorcall(L->hand_over, hargs, 3, NULL);
    }
    if (given != NULL) {
        long long k = PyLong_AsLongLong(given);
        if (!(k == -1 && PyErr_Occurred())) {
            L->with_payload += k;
            rc = check_evicted(L);
        }
    }
    Py_XDECREF(given);
    Py_XDECREF(flow);
    Py_DECREF(pkt);
    return rc;
}

static inline int bit(const unsigned char *bits, unsigned v)
{
    return (bits[v >> 3] >> (v & 7)) & 1;
}

/* Would on_payload look at this inline record's payload? PayloadGate.wanted, in C: 0 only when the
 * inspectors' tables say no source reads it (passive/gate.py). */
static int gate_wants(const Loop *L, const Rec *r)
{
    const unsigned char *p = r->p;
    Py_ssize_t n = r->stop - r->data;
    int lane = r->proto == 6 ? 0 : r->proto == 17 ? 1 : -1;
    if (r->dmac < 0 || (p[r->dmac] & 1) || PySet_GET_SIZE(L->learnt) > 0 || lane < 0 || n <= 0)
        return 1;
    unsigned first = p[r->data], sport = (unsigned)r->sport & 0xffff, dport = (unsigned)r->dport & 0xffff;
    if (bit(L->call_ports[lane], sport) || bit(L->call_ports[lane], dport) || bit(L->call_first[lane], first))
        return 1;
    if (n > L->max_scan)
        return 0;
    unsigned to = L->scan_row_of[lane][dport], back = L->scan_row_of[lane][sport];
    return bit(L->scan_first[lane], first) || (to && bit(L->scan_rows[lane][to - 1], first)) ||
           (back && bit(L->scan_rows[lane][back - 1], first));
}

/* One inline record: its flow, its counts, and its payload for the inspectors. */
static int fast_path(Loop *L, const Rec *r, const unsigned char *key, Py_hash_t hash)
{
    PyObject *pkt = NULL;
    int c2s = 0, rc = -1;
    L->ip++;
    PyObject *flow = find_flow(L, r, key, hash, &c2s, &pkt);
    if (flow == NULL)
        goto done;
    if (pkt == NULL && !c2s && (r->flags & 0x12) == 0x12) { /* a SYN-ACK: the handshake RTT, as FlowTable.add */
        PyObject *args[2] = {flow, r->ts_obj};
        if (truth_of_call(PyObject_Vectorcall(L->handshake_rtt, args, 2, NULL)) < 0)
            goto done;
    }
    if (pkt == NULL && count_known(L, flow, c2s, r) < 0)
        goto done;
    if (r->data < r->stop && L->on_payload != Py_None) {
        int take;
        long long inspected;
        if (field_long(L, flow, F_INSPECTED, &inspected)) {
            take = inspected < L->inspect_per_flow;
        } else {
            PyObject *insp = field_get(L, flow, F_INSPECTED);
            if (insp == NULL)
                goto done;
            long v = PyLong_CheckExact(insp) ? PyLong_AsLong(insp) : -1;
            if (v == -1) { /* not a plain int, an overflow, or -1 itself: compare as Python does */
                PyErr_Clear();
                take = PyObject_RichCompareBool(insp, L->inspect_limit, Py_LT);
            } else {
                take = v < L->inspect_per_flow;
            }
            Py_DECREF(insp);
        }
        if (take == 0)
            take = always_inspected(L, r->sport, r->dport);
        if (take < 0)
            goto done;
        if (take) {
            if (field_add(L, flow, F_INSPECTED, 1, 0) < 0)
                goto done;
            L->with_payload++;
            if (L->learnt == NULL || gate_wants(L, r)) {
                if (pkt == NULL && (pkt = make_packet(L, r)) == NULL)
                    goto done;
                if (truth_of_call(PyObject_CallOneArg(L->on_payload, pkt)) < 0)
                    goto done;
            }
        }
    }
    rc = 0;
done:
    Py_XDECREF(flow);
    Py_XDECREF(pkt);
    return rc;
}

/* Every 1024 records: reader._pos = pos; flows.expire(ts); tick(reader.position). 1 to stop. */
static int every_1024(Loop *L, Py_ssize_t pos, PyObject *ts_obj)
{
    PyObject *o = PyLong_FromSsize_t(pos);
    if (o == NULL)
        return -1;
    int res = PyObject_SetAttr(L->reader, s_pos, o);
    Py_DECREF(o);
    if (res < 0)
        return -1;
    res = truth_of_call(PyObject_CallMethodOneArg(L->flows, s_expire, ts_obj));
    if (res < 0)
        return -1;
    if (res) { /* idle flows closed: the cache may name them */
        PyObject *ev = PyObject_GetAttr(L->flows, s_evicted);
        if (ev == NULL)
            return -1;
        Py_SETREF(L->evicted, ev);
        if (cache_clear(&L->cache) < 0)
            return -1;
    }
    PyObject *where = PyObject_GetAttr(L->reader, s_position);
    if (where == NULL)
        return -1;
    res = truth_of_call(PyObject_CallOneArg(L->tick, where));
    Py_DECREF(where);
    return res;
}

/* Prefetching (hints only: nothing read here changes a result). The records ahead of the current one
 * are framed and keyed early: AHEAD records ahead, the cache slot of the record's key is fetched;
 * 2 ahead, the flow object that slot names; 1 ahead, the flow's counters. Each stage looks the key up
 * in the cache as it is at that moment, so every pointer followed is to a live object. */
#define AHEAD 3
#define RING 4 /* > AHEAD, a power of two */
typedef struct {
    Rec rec; /* the record framed and classified */
    Py_hash_t hash;
    unsigned char key[KEYLEN];
    unsigned char ok; /* an inline record: key and hash are set */
} Peek;

static inline void prefetch_flow(Loop *L, const Peek *k, int fields)
{
    if (!k->ok)
        return;
    const Entry *e = cache_slot(&L->cache, k->key, k->hash);
    if (!e->used)
        return;
    const char *f = (const char *)e->flow;
    if (!fields) {
        for (int i = -16; i < 256; i += 64)
            __builtin_prefetch(f + i);
        return;
    }
    if (!direct_flow(L, e->flow) || L->kind[F_LAST_SEEN] != K_OBJ)
        return; /* C values lie in the flow itself, fetched above */
    __builtin_prefetch(*(PyObject *const *)(f + L->off[F_LAST_SEEN]));
    __builtin_prefetch(*(PyObject *const *)(f + L->off[e->c2s ? F_PACKETS_C2S : F_PACKETS_S2C]));
    __builtin_prefetch(*(PyObject *const *)(f + L->off[e->c2s ? F_BYTES_C2S : F_BYTES_S2C]));
    if (e->c2s == 2)
        __builtin_prefetch(*(PyObject *const *)(f + L->off[F_C2S_LAST]));
}

static PyObject *Loop_run(Loop *L, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "run(buf, pos) takes 2 arguments");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (pos < 0) {
        PyErr_SetString(PyExc_ValueError, "pos must not be negative");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = view.buf;
    const Py_ssize_t end = view.len;
    Rec r = {.buf = args[0], .p = p, .exact = PyBytes_CheckExact(args[0])};
    Peek ring[RING];
    Py_ssize_t scan = pos; /* the next record to peek at */
    size_t done = 0, peeked = 0;
    int stopped = 0, failed = 0, more = 1;
    unsigned char key[KEYLEN];
    for (;; done++) {
        while (more && peeked <= done + AHEAD) {
            Peek *k = &ring[peeked & (RING - 1)];
            k->rec = r;
            if (!(more = frame_any(L, p, scan, end, &k->rec)))
                break;
            classify(p, &k->rec);
            k->ok = k->rec.data >= 0;
            if (k->ok) {
                dir_key(p, &k->rec, k->key);
                k->hash = HASH_BYTES(k->key, KEYLEN);
                __builtin_prefetch(&L->cache.slots[(size_t)k->hash & L->cache.mask]);
            }
            scan = k->rec.next;
            peeked++;
        }
        if (peeked > done + 2)
            prefetch_flow(L, &ring[(done + 2) & (RING - 1)], 0);
        if (peeked > done + 1)
            prefetch_flow(L, &ring[(done + 1) & (RING - 1)], 1);
        /* This record: as peeked when the buffer is bytes (immutable), else framed again. */
        const Peek *k = peeked > done ? &ring[done & (RING - 1)] : NULL;
        if (k != NULL && r.exact && k->rec.at == pos) {
            r = k->rec;
        } else {
            k = NULL;
            if (!frame_any(L, p, pos, end, &r))
                break;
            classify(p, &r);
        }
        if (r.caplen > r.wirelen) {
            if (!L->warned_orig && !L->ng) { /* the same warnings as PcapReader.__iter__, once per file */
                L->warned_orig = 1;
                if (warn(L, "record at offset %S has caplen %lu > origlen %lu", pos, r.caplen, r.wirelen) < 0)
                    goto fail;
            }
            r.wirelen = r.caplen;
        }
        if (r.caplen > L->snaplen && !L->warned_snap && !L->ng) {
            L->warned_snap = 1;
            if (warn(L, "record at offset %S has caplen %lu > snaplen %lu", pos, r.caplen,
                     (unsigned long)L->snaplen) < 0)
                goto fail;
        }
        L->n++;
        L->wire += (long long)r.wirelen;
        if ((r.ts_obj = PyFloat_FromDouble(r.ts)) == NULL)
            goto fail;
        int rc;
        if (r.data < 0) {
            rc = slow_path(L, &r);
        } else {
            Py_hash_t hash;
            dir_key(p, &r, key);
            if (k != NULL && k->ok && memcmp(k->key, key, KEYLEN) == 0)
                hash = k->hash;
            else
                hash = HASH_BYTES(key, KEYLEN);
            rc = fast_path(L, &r, key, hash);
        }
        if (rc == 0 && !(L->n & 0x3FF)) {
            rc = every_1024(L, r.next, r.ts_obj);
            if (rc > 0) {
                stopped = 1;
                rc = 0;
            }
        }
        Py_CLEAR(r.ts_obj);
        if (rc < 0)
            goto fail;
        pos = r.next;
        if (stopped)
            break;
    }
    goto out;
fail:
    failed = 1;
out:
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    return Py_BuildValue("(nO)", pos, stopped ? Py_True : Py_False);
}

static PyObject *Loop_counts(Loop *L, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(LLLL)", L->n, L->wire, L->ip, L->with_payload);
}

/* interfaces(big_endian, [(linktype, ts_div, ts_offset), ...], first): the pcapng section's byte order,
 * and its interfaces numbered `first` on (those before are kept; 0 for a new section). */
static PyObject *Loop_interfaces(Loop *L, PyObject *args)
{
    int big;
    PyObject *table;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "pO!n", &big, &PyList_Type, &table, &first))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(table);
    if (first < 0 || first > L->n_ifaces || n > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Iface) - first) {
        PyErr_SetString(PyExc_ValueError, "interfaces: first is past the interfaces known");
        return NULL;
    }
    Py_ssize_t total = first + n;
    if (total > L->cap_ifaces) { /* grown by doubling: a section may declare its interfaces one by one */
        Py_ssize_t cap = L->cap_ifaces ? L->cap_ifaces : 8;
        while (cap < total)
            cap *= 2;
        Iface *f = PyMem_Realloc(L->ifaces, (size_t)cap * sizeof(Iface));
        if (f == NULL)
            return PyErr_NoMemory();
        L->ifaces = f;
        L->cap_ifaces = cap;
    }
    L->n_ifaces = first;
    for (Py_ssize_t i = 0; i < n; i++) {
        long linktype;
        double ts_div, ts_offset;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(table, i), "ldd", &linktype, &ts_div, &ts_offset))
            return NULL;
        int link = ts_div > 0 ? link_of(linktype) : LINK_NONE;
        L->ifaces[first + i] = (Iface){.link = link, .linktype = linktype, .ts_div = ts_div, .ts_offset = ts_offset};
        L->n_ifaces = first + i + 1;
    }
    L->big = big;
    Py_RETURN_NONE;
}

/* counted(wirelen, ip, given, ts, pos) -> stop: a record the reader gave and the caller decoded, counted
 * as the loop counts its own (records, wire bytes, IP, payloads; every 1024th closes idle flows and
 * ticks). The caller's FlowTable.add may have evicted: the cache forgets them. */
static PyObject *Loop_counted(Loop *L, PyObject *args)
{
    unsigned long long wirelen;
    int ip, given;
    PyObject *ts;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "KppO!n", &wirelen, &ip, &given, &PyFloat_Type, &ts, &pos))
        return NULL;
    if (L->reader == NULL || L->cache.slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Loop is not initialised");
        return NULL;
    }
    L->n++;
    L->wire += (long long)wirelen;
    L->ip += ip;
    L->with_payload += given;
    if (check_evicted(L) < 0)
        return NULL;
    int stop = 0;
    if (!(L->n & 0x3FF) && (stop = every_1024(L, pos, ts)) < 0)
        return NULL;
    return PyBool_FromLong(stop);
}

/* The member descriptors of the Flow class: for direct access, each field a writable member of the class
 * or a base of it: a plain slot (a PyObject*), or a C value of FlowFields. Anything else: getattr/setattr. */
static int find_offsets(Loop *L)
{
    L->direct = 0;
    if (!PyType_Check(L->flow_cls) || ((PyTypeObject *)L->flow_cls)->tp_getattro != PyObject_GenericGetAttr ||
        ((PyTypeObject *)L->flow_cls)->tp_setattro != PyObject_GenericSetAttr)
        return 0;
    for (int f = 0; f < NFIELDS; f++) {
        PyObject *d = PyObject_GetAttr(L->flow_cls, field_name[f]);
        if (d == NULL) {
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 PyType_IsSubtype((PyTypeObject *)L->flow_cls, ((PyDescrObject *)d)->d_type) &&
                 !(((PyMemberDescrObject *)d)->d_member->flags & Py_READONLY);
        if (ok) {
            PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
            switch (m->type) {
            case Py_T_OBJECT_EX: L->kind[f] = K_OBJ; break;
            case T_DOUBLE: L->kind[f] = K_DOUBLE; break;
            case T_LONGLONG: L->kind[f] = K_LLONG; break;
            case T_INT: L->kind[f] = K_INT; break;
            case T_BOOL: L->kind[f] = K_BOOL; break;
            default: ok = 0;
            }
            L->off[f] = m->offset;
            L->member[f] = m; /* lives as long as the class, which the Loop holds */
        }
        Py_DECREF(d);
        if (!ok)
            return 0;
    }
    L->direct = 1;
    return 0;
}

/* Packet's layout, for making Packets without calling its __init__: only a plain class (object's
 * __new__, no __dict__, weak references or finaliser) whose 14 slots are exactly the arguments'
 * names, and whose __init__, called once here, is seen to store each argument in its slot. */
static const char *packet_text[14] = {"ts", "src_mac", "dst_mac", "vlans", "version", "src", "dst",
                                      "proto", "sport", "dport", "tcp_flags", "wirelen", "payload", "frag"};

static int find_packet_layout(Loop *L)
{
    L->packet_direct = 0;
    if (!PyType_Check(L->packet_cls))
        return 0;
    PyTypeObject *type = (PyTypeObject *)L->packet_cls;
    if (type->tp_new != PyBaseObject_Type.tp_new || type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0 ||
        type->tp_finalize != NULL || type->tp_del != NULL || type->tp_alloc != PyType_GenericAlloc ||
        type->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + 14 * sizeof(PyObject *)))
        return 0;
    for (int i = 0; i < 14; i++) {
        PyObject *d = PyObject_GetAttrString(L->packet_cls, packet_text[i]);
        if (d == NULL) {
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) && ((PyDescrObject *)d)->d_type == type &&
                 ((PyMemberDescrObject *)d)->d_member->type == Py_T_OBJECT_EX;
        if (ok)
            L->packet_off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok)
            return 0;
    }
    PyObject *probe[14] = {NULL}, *pkt = NULL;
    int ok = 1;
    for (int i = 0; i < 14; i++)
        ok &= (probe[i] = PyFloat_FromDouble(i + 0.5)) != NULL; /* 14 distinct objects */
    if (ok && (pkt = PyObject_Vectorcall(L->packet_cls, probe, 14, NULL)) != NULL) {
        ok = Py_IS_TYPE(pkt, type);
        for (int i = 0; ok && i < 14; i++)
            ok = *(PyObject **)((char *)pkt + L->packet_off[i]) == probe[i];
        L->packet_direct = ok;
    }
    PyErr_Clear(); /* a Packet that cannot be made from 14 floats: called, not copied */
    Py_XDECREF(pkt);
    for (int i = 0; i < 14; i++)
        Py_XDECREF(probe[i]);
    return 0;
}

/* ALWAYS_INSPECT as a bitmap when it holds only ints 0..65535 (else looked up per packet). */
static int read_always(Loop *L)
{
    memset(L->always_port, 0, sizeof L->always_port);
    L->always_is_ports = 0;
    if (!PyAnySet_Check(L->always))
        return 0;
    PyObject *it = PyObject_GetIter(L->always), *o;
    if (it == NULL)
        return -1;
    int ok = 1;
    while ((o = PyIter_Next(it)) != NULL) {
        long v = PyLong_CheckExact(o) ? PyLong_AsLong(o) : -1;
        if (v == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (v < 0 || v > 65535)
            ok = 0;
        else
            L->always_port[v >> 3] |= (unsigned char)(1 << (v & 7));
        Py_DECREF(o);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return -1;
    L->always_is_ports = ok;
    return 0;
}

/* One bitmap of a gate's lane into dst: a bytes attribute of exactly `size` bytes. */
static int read_bits(PyObject *lane, const char *name, unsigned char *dst, Py_ssize_t size)
{
    PyObject *o = PyObject_GetAttrString(lane, name);
    if (o == NULL)
        return -1;
    int ok = PyBytes_CheckExact(o) && PyBytes_GET_SIZE(o) == size;
    if (ok)
        memcpy(dst, PyBytes_AS_STRING(o), (size_t)size);
    else
        PyErr_Format(PyExc_ValueError, "gate: %s must be %zd bytes", name, size);
    Py_DECREF(o);
    return ok ? 0 : -1;
}

/* A lane's scan_rows (port -> 32-byte bitmap of first bytes) into scan_row_of and scan_rows. Past
 * GATE_ROWS ports, the last row is shared: the union of theirs (a payload let in needlessly, never one
 * kept out). */
static int read_rows(Loop *L, PyObject *lane, int i)
{
    PyObject *rows = PyObject_GetAttrString(lane, "scan_rows");
    if (rows == NULL)
        return -1;
    if (!PyDict_Check(rows)) {
        Py_DECREF(rows);
        PyErr_SetString(PyExc_TypeError, "gate: scan_rows must be a dict");
        return -1;
    }
    memset(L->scan_row_of[i], 0, sizeof L->scan_row_of[i]);
    memset(L->scan_rows[i], 0, sizeof L->scan_rows[i]);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int used = 0;
    while (PyDict_Next(rows, &pos, &key, &value)) {
        long port = PyLong_Check(key) ? PyLong_AsLong(key) : -1;
        if (port < 0 || port > 65535 || !PyBytes_CheckExact(value) || PyBytes_GET_SIZE(value) != 256 / 8) {
            Py_DECREF(rows);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "gate: scan_rows maps ports 0-65535 to 32 bytes");
            return -1;
        }
        int row = used < GATE_ROWS ? used++ : GATE_ROWS - 1;
        const unsigned char *bits = (const unsigned char *)PyBytes_AS_STRING(value);
        for (int b = 0; b < 256 / 8; b++)
            L->scan_rows[i][row][b] |= bits[b];
        L->scan_row_of[i][port] = (unsigned char)(row + 1);
    }
    Py_DECREF(rows);
    return 0;
}

/* The payload gate (a PayloadGate, or None: every taken payload goes to on_payload). */
static int read_gate(Loop *L, PyObject *gate)
{
    if (gate == Py_None)
        return 0;
    static const char *lanes[2] = {"tcp", "udp"};
    for (int i = 0; i < 2; i++) {
        PyObject *lane = PyObject_GetAttrString(gate, lanes[i]);
        if (lane == NULL)
            return -1;
        int rc = read_bits(lane, "call_ports", L->call_ports[i], sizeof L->call_ports[i]) < 0 ||
                 read_bits(lane, "call_first", L->call_first[i], sizeof L->call_first[i]) < 0 ||
                 read_bits(lane, "scan_first", L->scan_first[i], sizeof L->scan_first[i]) < 0 ||
                 read_rows(L, lane, i) < 0;
        Py_DECREF(lane);
        if (rc)
            return -1;
    }
    PyObject *max_scan = PyObject_GetAttrString(gate, "max_scan");
    if (max_scan == NULL)
        return -1;
    L->max_scan = PyLong_AsSsize_t(max_scan);
    Py_DECREF(max_scan);
    if (L->max_scan == -1 && PyErr_Occurred())
        return -1;
    PyObject *learnt = PyObject_GetAttrString(gate, "learnt");
    if (learnt == NULL)
        return -1;
    if (!PyAnySet_Check(learnt)) {
        Py_DECREF(learnt);
        PyErr_SetString(PyExc_TypeError, "gate: learnt must be a set");
        return -1;
    }
    L->learnt = learnt;
    return 0;
}

static int Loop_init(Loop *L, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"reader", "decoder", "flows", "on_payload", "tick", "hand_over", "packet_cls",
                             "flow_cls", "handshake_rtt", "ts_div", "snaplen", "max_caplen", "big_endian",
                             "inspect_per_flow", "always_inspect", "beat_gap", "direct", "cache_slots", "gate", "beat_log",
                             "open_flows", "max_shared", "pcapng", "linktype", NULL};
    PyObject *reader, *decoder, *flows, *on_payload, *tick, *hand_over, *packet_cls, *flow_cls, *rtt, *always;
    PyObject *limit, *gap, *gate = Py_None;
    double ts_div;
    unsigned long long snaplen, max_caplen;
    int big, direct = 1;
    Py_ssize_t cache_slots = CACHE_MAX;
    long long beat_log = 0;
    int open_flows = 0;
    Py_ssize_t max_shared = 65536;
    int ng = 0;
    long linktype = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOOOdKKpOOO|pnOLpnpl", kwlist, &reader, &decoder,
                                     &flows, &on_payload, &tick, &hand_over, &packet_cls, &flow_cls, &rtt,
                                     &ts_div, &snaplen, &max_caplen, &big, &limit, &always, &gap, &direct,
                                     &cache_slots, &gate, &beat_log, &open_flows, &max_shared, &ng, &linktype))
        return -1;
    if (cache_slots < 2 || cache_slots > CACHE_MAX || (cache_slots & (cache_slots - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "cache_slots must be a power of two from 2 to 262144");
        return -1;
    }
    if (L->reader != NULL) {
        PyErr_SetString(PyExc_TypeError, "Loop is initialised once");
        return -1;
    }
    if (!(ts_div > 0)) {
        PyErr_SetString(PyExc_ValueError, "ts_div must be positive");
        return -1;
    }
    L->reader = Py_NewRef(reader);
    L->flows = Py_NewRef(flows);
    L->on_payload = Py_NewRef(on_payload);
    L->tick = Py_NewRef(tick);
    L->hand_over = Py_NewRef(hand_over);
    L->packet_cls = Py_NewRef(packet_cls);
    L->flow_cls = Py_NewRef(flow_cls);
    L->handshake_rtt = Py_NewRef(rtt);
    L->always = Py_NewRef(always);
    L->inspect_limit = Py_NewRef(limit);
    L->beat_gap_obj = Py_NewRef(gap);
    L->ts_div = ts_div;
    L->beat_log = beat_log;
    PyObject *array_module = PyImport_ImportModule("array");
    if (array_module == NULL)
        return -1;
    L->array_type = PyObject_GetAttrString(array_module, "array");
    Py_DECREF(array_module);
    if (L->array_type == NULL)
        return -1;
    L->snaplen = snaplen;
    L->max_caplen = max_caplen; /* pcapng: the largest packet block */
    L->big = big;
    L->ng = ng;
    L->link = link_of(linktype);
    L->linktype = linktype;
    L->beat_gap = PyFloat_AsDouble(gap);
    if (L->beat_gap == -1.0 && PyErr_Occurred())
        return -1;
    L->inspect_per_flow = PyLong_AsLong(limit);
    if (L->inspect_per_flow == -1 && PyErr_Occurred())
        return -1;
    if ((L->decode = PyObject_GetAttrString(decoder, "decode_frame")) == NULL ||
        (L->add = PyObject_GetAttrString(flows, "add")) == NULL ||
        (L->by_key = PyObject_GetAttrString(flows, "by_key")) == NULL ||
        (L->evicted = PyObject_GetAttr(flows, s_evicted)) == NULL || (L->empty_tuple = PyTuple_New(0)) == NULL)
        return -1;
    L->cache.limit = (size_t)cache_slots;
    if (cache_init(&L->cache, cache_slots < CACHE_MIN ? (size_t)cache_slots : CACHE_MIN) < 0 ||
        read_always(L) < 0 || read_gate(L, gate) < 0 || find_offsets(L) < 0 ||
        find_packet_layout(L) < 0)
        return -1;
    L->direct &= direct;
    L->packet_direct &= direct;
    L->max_shared = max_shared;
    L->c_layout = L->direct;
    for (int f = 0; f < NFIELDS; f++)
        L->c_layout &= L->kind[f] == field_layout[f];
    L->open_in_c = open_flows && L->c_layout && PyDict_CheckExact(L->by_key) &&
                   ((PyTypeObject *)L->flow_cls)->tp_alloc == PyType_GenericAlloc;
    return 0;
}

static int Loop_traverse(Loop *L, visitproc visit, void *arg)
{
    Py_VISIT(L->reader);
    Py_VISIT(L->flows);
    Py_VISIT(L->by_key);
    Py_VISIT(L->decode);
    Py_VISIT(L->add);
    Py_VISIT(L->on_payload);
    Py_VISIT(L->tick);
    Py_VISIT(L->hand_over);
    Py_VISIT(L->packet_cls);
    Py_VISIT(L->vlan_tuple);
    Py_VISIT(L->flow_cls);
    Py_VISIT(L->handshake_rtt);
    Py_VISIT(L->always);
    Py_VISIT(L->inspect_limit);
    Py_VISIT(L->beat_gap_obj);
    Py_VISIT(L->evicted);
    Py_VISIT(L->learnt);
    Py_VISIT(L->array_type);
    if (L->cache.slots != NULL)
        for (size_t i = 0; i <= L->cache.mask; i++)
            if (L->cache.slots[i].used)
                Py_VISIT(L->cache.slots[i].flow);
    return 0;
}

static int Loop_clear(Loop *L)
{
    Py_CLEAR(L->reader);
    Py_CLEAR(L->flows);
    Py_CLEAR(L->by_key);
    Py_CLEAR(L->decode);
    Py_CLEAR(L->add);
    Py_CLEAR(L->on_payload);
    Py_CLEAR(L->tick);
    Py_CLEAR(L->hand_over);
    Py_CLEAR(L->packet_cls);
    Py_CLEAR(L->flow_cls);
    Py_CLEAR(L->handshake_rtt);
    Py_CLEAR(L->always);
    Py_CLEAR(L->inspect_limit);
    Py_CLEAR(L->beat_gap_obj);
    Py_CLEAR(L->evicted);
    Py_CLEAR(L->learnt);
    Py_CLEAR(L->array_type);
    Py_CLEAR(L->empty_tuple);
    Py_CLEAR(L->vlan_tuple);
    if (L->cache.slots != NULL) {
        Entry *old = L->cache.slots;
        size_t n = L->cache.mask + 1;
        L->cache.slots = NULL;
        L->cache.mask = L->cache.count = 0;
        for (size_t i = 0; i < n; i++)
            if (old[i].used)
                Py_DECREF(old[i].flow);
        PyMem_Free(old);
    }
    return 0;
}

static void Loop_dealloc(Loop *L)
{
    PyObject_GC_UnTrack(L);
    Loop_clear(L);
    PyMem_Free(L->ifaces);
    L->ifaces = NULL;
    Py_TYPE(L)->tp_free((PyObject *)L);
}

static PyObject *Loop_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    return type->tp_alloc(type, 0); /* zeroed: every pointer NULL, the cache empty */
}

static PyObject *Loop_run_checked(Loop *L, PyObject *const *args, Py_ssize_t nargs)
{
    if (L->reader == NULL || L->cache.slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Loop is not initialised");
        return NULL;
    }
    return Loop_run(L, args, nargs);
}

static PyMethodDef Loop_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Loop_run_checked, METH_FASTCALL,
     "run(buf, pos) -> (pos, stopped): the records wholly inside buf from pos."},
    {"counts", (PyCFunction)Loop_counts, METH_NOARGS, "(records, wire bytes, IP packets, payload packets)"},
    {"interfaces", (PyCFunction)Loop_interfaces, METH_VARARGS,
     "interfaces(big_endian, [(linktype, ts_div, ts_offset), ...], first): a pcapng section's, from first on"},
    {"counted", (PyCFunction)Loop_counted, METH_VARARGS,
     "counted(wirelen, ip, given, ts, pos) -> stop: count a record read and decoded outside the loop"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Loop_members[] = {
    {"n", T_LONGLONG, offsetof(Loop, n), READONLY, "records read"},
    {"direct", T_INT, offsetof(Loop, direct), READONLY, "1: Flow fields by slot offset; 0: getattr/setattr"},
    {"packet_direct", T_INT, offsetof(Loop, packet_direct), READONLY, "1: Packets made by slot offset"},
    {"cached", T_PYSSIZET, offsetof(Loop, cache) + offsetof(Cache, count), READONLY, "directions cached"},
    {"cache_emptied", T_PYSSIZET, offsetof(Loop, cache) + offsetof(Cache, emptied), READONLY,
     "times the direction cache was emptied for being full"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hikscan.passive._fastloop.Loop",
    .tp_basicsize = sizeof(Loop),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The record loop of one classic pcap or pcapng file (see pyloop.pcap_ethernet_loop).",
    .tp_new = Loop_new,
    .tp_init = (initproc)Loop_init,
    .tp_dealloc = (destructor)Loop_dealloc,
    .tp_traverse = (traverseproc)Loop_traverse,
    .tp_clear = (inquiry)Loop_clear,
    .tp_methods = Loop_methods,
    .tp_members = Loop_members,
};

/* ---- FlowFields: hikscan.passive.flows.Flow's fields as C values -------------------------------------
 * The base of the Flow class when this module is built (flows.py adds the methods, __slots__ = ()): the
 * numbers are doubles and integers in the object, not a Python object each (~180 bytes less a flow: the
 * table's main cost), and the loop above reads and writes them in place. Members keep Python's
 * attribute semantics (PyMember_GetOne/SetOne); a counter past 2**63 raises OverflowError. The object
 * fields hold bytes, tuples, arrays or None: never a reference back to a flow, so no reference cycle
 * can pass through one and the type needs no garbage-collector support. */
typedef struct {
    PyObject_HEAD
    PyObject *key, *client, *server, *client_mac, *server_mac, *vlans, *beat_log;
    double first_seen, last_seen, c2s_last, beat0, syn_at, rtt;
    long long packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, folded_packets, folded_bytes, inspected, beats;
    int tcp_flags, client_port, server_port, proto, version;
    char sketched;
} FlowFields;

#define FF(name, type) {#name, type, offsetof(FlowFields, name), 0, NULL}
static PyMemberDef FlowFields_members[] = {
    FF(key, Py_T_OBJECT_EX), FF(client, Py_T_OBJECT_EX), FF(server, Py_T_OBJECT_EX),
    FF(client_mac, Py_T_OBJECT_EX), FF(server_mac, Py_T_OBJECT_EX), FF(vlans, Py_T_OBJECT_EX),
    FF(beat_log, Py_T_OBJECT_EX), FF(first_seen, T_DOUBLE), FF(last_seen, T_DOUBLE), FF(c2s_last, T_DOUBLE),
    FF(beat0, T_DOUBLE), FF(syn_at, T_DOUBLE), FF(rtt, T_DOUBLE), FF(packets_c2s, T_LONGLONG),
    FF(packets_s2c, T_LONGLONG), FF(bytes_c2s, T_LONGLONG), FF(bytes_s2c, T_LONGLONG),
    FF(folded_packets, T_LONGLONG), FF(folded_bytes, T_LONGLONG), FF(inspected, T_LONGLONG),
    FF(beats, T_LONGLONG), FF(tcp_flags, T_INT), FF(client_port, T_INT), FF(server_port, T_INT),
    FF(proto, T_INT), FF(version, T_INT), FF(sketched, T_BOOL),
    {NULL, 0, 0, 0, NULL},
};
#undef FF

/* A Python subclass's instances go through subtype_dealloc, which calls this and then drops their
 * reference to the class itself. */
static void FlowFields_dealloc(FlowFields *self)
{
    Py_CLEAR(self->key);
    Py_CLEAR(self->client);
    Py_CLEAR(self->server);
    Py_CLEAR(self->client_mac);
    Py_CLEAR(self->server_mac);
    Py_CLEAR(self->vlans);
    Py_CLEAR(self->beat_log);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject FlowFieldsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hikscan.passive._fastloop.FlowFields",
    .tp_basicsize = sizeof(FlowFields),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The fields of a flow as C values (the base of hikscan.passive.flows.Flow).",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)FlowFields_dealloc,
    .tp_members = FlowFields_members,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hikscan.passive._fastloop",
    "The capture record loop in C (optional; pipeline falls back to Python without it).", -1, NULL,
};

PyMODINIT_FUNC PyInit__fastloop(void)
{
    for (int f = 0; f < NFIELDS; f++)
        if ((field_name[f] = PyUnicode_InternFromString(field_text[f])) == NULL)
            return NULL;
    if (!(s_append = PyUnicode_InternFromString("append")) || !(s_beat = PyUnicode_InternFromString("beat")) || !(s_warn = PyUnicode_InternFromString("_warn")) ||
        !(s_base = PyUnicode_InternFromString("_base")) || !(s_pos = PyUnicode_InternFromString("_pos")) ||
        !(s_position = PyUnicode_InternFromString("position")) ||
        !(s_evicted = PyUnicode_InternFromString("evicted")) ||
        !(s_expire = PyUnicode_InternFromString("expire")) || !(s_get = PyUnicode_InternFromString("get")) ||
        !(s_max_flows = PyUnicode_InternFromString("max_flows")) ||
        !(s_shared = PyUnicode_InternFromString("_shared")) || !(s_sketch = PyUnicode_InternFromString("sketch")) ||
        !(s_total_flows = PyUnicode_InternFromString("total_flows")) || !(one = PyLong_FromLong(1)))
        return NULL;
    if (PyType_Ready(&LoopType) < 0 || PyType_Ready(&FlowFieldsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Loop", (PyObject *)&LoopType) < 0 ||
        PyModule_AddObjectRef(m, "FlowFields", (PyObject *)&FlowFieldsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
