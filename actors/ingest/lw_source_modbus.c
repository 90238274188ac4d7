/*  =========================================================================
    lw_source_modbus.c - Modbus TCP polling source (libmodbus)

    Copyright (c) the linewatch authors. MIT license.

    Config (ingest/source/<name>): type = modbus, and one child per device
    under device/<device>: host, port (502), unit (1), interval (ms, 1000),
    timeout (ms, 1000), gap (registers a read may bridge, 8), backoff_max
    (ms, 10000), machine (key prefix of its points, default the device
    name), and its points under point/<point> (see lw_modbus_map.h).

    libmodbus is blocking, so each device is polled by its own thread (a
    zactor; their number is bounded by S_DEVICES_MAX) that owns its
    modbus_t. A thread reads the device's planned blocks (contiguous
    registers in one request), stamps each block with the wall clock taken
    just before its request, decodes every point and PUSHes one binary
    message per poll cycle to the source's PULL (inproc), which hands the
    readings to the sink on the ingest thread. A thread that fails a
    request (timeout, connection lost) reports DOWN, closes the
    connection and retries after a backoff that doubles from the interval
    up to backoff_max; the first successful cycle reports UP. A dead
    device therefore costs its own thread one timeout per retry and never
    delays another device.

    Backpressure: while the source is paused the PULL is not read; each
    PUSH holds at most a few cycles (small HWM), then its thread waits
    before polling again - nothing already read is lost.

    Counters: modbus_polls, modbus_requests, modbus_readings,
    modbus_cycle_us (time spent polling, summed over cycles: divided by
    modbus_polls it is the mean poll cycle of a device),
    modbus_timeouts, modbus_errors (other failures), modbus_exceptions
    (the device refused a read: wrong address or function), modbus_down
    (devices down now, a gauge) and modbus_down_<device> (0/1, while the
    counter table has room).
    =========================================================================
*/

#include <czmq.h>
#include <errno.h>
#include <modbus/modbus.h>

#include "lw_modbus_map.h"
#include "lw_source.h"
#include "lw_util.h"

#define S_PATH_MAX 512    //  Longest config path we build
#define S_DEVICES_MAX 256 //  Most devices (= threads) of one source
#define S_HOST_MAX 255    //  Longest host name
#define S_PIPE_HWM 2      //  Cycles queued per device on each side
#define S_RETRY_MS 100    //  Wait before retrying a full PUSH
#define S_BURST 64        //  Messages taken per loop iteration
#define S_ERROR_MAX 64    //  Error text carried in a DOWN message

//  Message kinds from a device thread
#define S_READINGS 1 //  A poll cycle (possibly partial)
#define S_DOWN 2     //  A request failed; the device is retried later
#define S_UP 3       //  The device answers again

//  Header of a message from a device thread
typedef struct {
    uint32_t device;        //  Index in the source's devices
    uint32_t kind;          //  S_READINGS, S_DOWN, S_UP
    uint32_t count;         //  Readings that follow
    uint32_t requests;      //  Requests made in the cycle
    uint32_t exceptions;    //  Reads the device refused
    int32_t error;          //  errno of a failure
    int64_t cycle;          //  ns the cycle took
    char text[S_ERROR_MAX]; //  modbus_strerror of a failure
} s_header_t;

//  One reading in a message
typedef struct {
    uint32_t point; //  Index in the device's map
    uint32_t unused;
    int64_t time;
    double value;
} s_record_t;

typedef struct {
    //  Set at create, read-only for the thread
    char *name;           //  Device name
    char *host;           //  Host or address
    char port[8];         //  TCP port as text
    int unit;             //  Unit (slave) id
    int64_t interval;     //  Poll interval, ns
    int timeout;          //  Response timeout, ms
    int64_t backoff_max;  //  Longest retry wait, ns
    lw_modbus_map_t *map; //  Points and planned reads
    uint32_t index;       //  Index in the source
    const char *endpoint; //  The source's PULL (inproc)
    //  Ingest thread only
    lw_sensor_t **sensors; //  Sink sensor of each point
    zactor_t *actor;       //  Polling thread
    bool down;             //  Marked down
    uint64_t failures;     //  Failed cycles while down
    bool refused;          //  Logged that it refuses a read
    int c_down;            //  modbus_down_<device>, or -1
} s_device_t;

typedef struct {
    zloop_t *loop;       //  The actor's loop
    lw_sink_t *sink;     //  Where readings go
    char *name;          //  Source name
    char endpoint[64];   //  inproc endpoint of the PULL
    zsock_t *pull;       //  From the device threads
    bool reading;        //  The reader is registered
    s_device_t *devices; //  Devices
    size_t ndevices;
    int c_polls; //  Counters
    int c_cycle;
    int c_requests;
    int c_readings;
    int c_timeouts;
    int c_errors;
    int c_exceptions;
    int c_down;
} s_modbus_t;

//  --------------------------------------------------------------------------
//  Sends one message, waiting while the PUSH is full. Returns false when
//  $TERM arrived on the pipe meanwhile.

static bool
s_push (zsock_t *pipe, void *push, const void *data, size_t size,
        bool *terminated)
{
    while (zmq_send (push, data, size, ZMQ_DONTWAIT) == -1) {
        if (zmq_errno () != EAGAIN && zmq_errno () != EINTR)
            return true; //  Context ending: nothing to do
        zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, S_RETRY_MS) == 1) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term) {
                *terminated = true;
                return false;
            }
        }
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Polls every planned read once. Fills the records; returns 0, or the
//  errno of the request that failed (the device is then down).

static int
s_cycle (s_device_t *device, modbus_t *context, s_header_t *header,
         s_record_t *records, uint16_t *words, uint8_t *bits)
{
    size_t reads = lw_modbus_map_reads (device->map);
    for (size_t index = 0; index < reads; index++) {
        const lw_modbus_read_t *read = lw_modbus_map_read (device->map, index);
        int64_t time = lw_time_now ();
        int rc;
        header->requests++;
        switch (read->table) {
        case LW_MODBUS_HOLDING:
            rc = modbus_read_registers (context, read->address, read->count,
                                        words);
            break;
        case LW_MODBUS_INPUT:
            rc = modbus_read_input_registers (context, read->address,
                                              read->count, words);
            break;
        case LW_MODBUS_COIL:
            rc = modbus_read_bits (context, read->address, read->count, bits);
            break;
        default:
            rc = modbus_read_input_bits (context, read->address, read->count,
                                         bits);
            break;
        }
        if (rc == -1 && errno >= MODBUS_ENOBASE && errno <= EMBXGTAR) {
            header->exceptions++; //  The device refused this read
            continue;
        }
        if (rc != read->count) {
            int error = rc == -1 ? errno : EMBBADDATA;
            snprintf (header->text, sizeof (header->text), "%s",
                      modbus_strerror (error));
            return error ? error : EIO;
        }
        for (size_t at = read->first; at < read->first + read->npoints; at++) {
            s_record_t *record = &records[header->count++];
            record->point = (uint32_t)at;
            record->time = time;
            record->value = lw_modbus_map_value (
                lw_modbus_map_point (device->map, at), read, words, bits);
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  A device's polling thread

static void
s_device_actor (zsock_t *pipe, void *args)
{
    s_device_t *device = (s_device_t *)args;
    size_t npoints = lw_modbus_map_points (device->map);
    size_t size = sizeof (s_header_t) + npoints * sizeof (s_record_t);
    uint8_t *message = (uint8_t *)zmalloc (size);
    uint16_t *words =
        (uint16_t *)zmalloc (LW_MODBUS_REGS_MAX * sizeof (uint16_t));
    uint8_t *bits = (uint8_t *)zmalloc (LW_MODBUS_BITS_MAX);
    zsock_t *push = zsock_new (ZMQ_PUSH);
    modbus_t *context = modbus_new_tcp_pi (device->host, device->port);
    assert (message && words && bits && push);
    zsock_set_sndhwm (push, S_PIPE_HWM);
    zsock_set_linger (push, 0);
    int rc = zsock_connect (push, "%s", device->endpoint);
    assert (rc == 0);
    if (context) {
        modbus_set_slave (context, device->unit);
        modbus_set_response_timeout (context, (uint32_t)device->timeout / 1000,
                                     (uint32_t)(device->timeout % 1000) * 1000);
    }
    else
        zsys_error ("ingest: modbus device=%s cannot create a context "
                    "host=%s port=%s",
                    device->name, device->host, device->port);
    zsock_signal (pipe, 0);

    s_header_t *header = (s_header_t *)message;
    s_record_t *records = (s_record_t *)(header + 1);
    void *push_handle = zsock_resolve (push);
    bool connected = false, down = false, terminated = false;
    int64_t backoff = device->interval;
    int64_t next = lw_time_mono ();
    while (!terminated) {
        int64_t wait = next - lw_time_mono ();
        if (wait > 0) {
            zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
            long timeout = (long)((wait + LW_NS_PER_MS - 1) / LW_NS_PER_MS);
            if (zmq_poll (&item, 1, timeout) == 1) {
                char *command = zstr_recv (pipe);
                terminated = !command || streq (command, "$TERM");
                zstr_free (&command);
                continue;
            }
            if (lw_time_mono () < next)
                continue;
        }
        memset (header, 0, sizeof (s_header_t));
        header->device = device->index;
        int64_t start = lw_time_mono ();
        int error = 0;
        if (!context)
            error = EINVAL;
        else if (!connected) {
            if (modbus_connect (context) == 0)
                connected = true;
            else {
                error = errno ? errno : EIO;
                snprintf (header->text, sizeof (header->text), "%s",
                          modbus_strerror (error));
            }
        }
        if (connected)
            error = s_cycle (device, context, header, records, words, bits);
        header->cycle = lw_time_mono () - start;
        header->kind = S_READINGS;
        //  What was read before a failure still counts
        if (header->count || header->requests)
            if (!s_push (pipe, push_handle, message,
                         sizeof (s_header_t) +
                             header->count * sizeof (s_record_t),
                         &terminated))
                break;
        int64_t now = lw_time_mono ();
        if (error) {
            if (connected) {
                modbus_close (context); //  Drops a late answer with it
                connected = false;
            }
            header->kind = S_DOWN;
            header->count = 0;
            header->error = error;
            if (!s_push (pipe, push_handle, header, sizeof (s_header_t),
                         &terminated))
                break;
            down = true;
            next = now + backoff;
            backoff = backoff * 2 > device->backoff_max ? device->backoff_max
                                                        : backoff * 2;
            continue;
        }
        if (down) {
            down = false;
            header->kind = S_UP;
            header->count = 0;
            if (!s_push (pipe, push_handle, header, sizeof (s_header_t),
                         &terminated))
                break;
        }
        backoff = device->interval;
        next += device->interval;
        if (next <= now) //  Fell behind (slow device): skip, do not burst
            next = now + device->interval;
    }
    if (context) {
        if (connected)
            modbus_close (context);
        modbus_free (context);
    }
    zsock_destroy (&push);
    free (bits);
    free (words);
    free (message);
}

//  --------------------------------------------------------------------------
//  Handles one message of a device thread on the ingest thread

static void
s_take (s_modbus_t *self, const uint8_t *data, size_t size)
{
    //  Our own threads wrote it: a bad one is a bug
    assert (size >= sizeof (s_header_t));
    s_header_t header;
    memcpy (&header, data, sizeof (header));
    assert (header.device < self->ndevices);
    s_device_t *device = &self->devices[header.device];
    assert (header.count <= lw_modbus_map_points (device->map));
    assert (size == sizeof (s_header_t) + header.count * sizeof (s_record_t));
    header.text[S_ERROR_MAX - 1] = 0;
    if (header.kind == S_READINGS) {
        lw_sink_count (self->sink, self->c_polls, 1);
        lw_sink_count (self->sink, self->c_cycle, header.cycle / 1000);
        lw_sink_count (self->sink, self->c_requests, header.requests);
        lw_sink_count (self->sink, self->c_readings, header.count);
        lw_sink_count (self->sink, self->c_exceptions, header.exceptions);
        if (header.exceptions && !device->refused) {
            //  Once per device: a wrong address, table or unit id in the
            //  config, which only a person can fix
            device->refused = true;
            zsys_warning ("ingest: modbus device refuses reads source=%s "
                          "device=%s refused=%u of requests=%u (check "
                          "addresses, tables and unit id; counted "
                          "modbus_exceptions)",
                          self->name, device->name, header.exceptions,
                          header.requests);
        }
        const s_record_t *records =
            (const s_record_t *)(data + sizeof (s_header_t));
        for (uint32_t index = 0; index < header.count; index++) {
            s_record_t record;
            memcpy (&record, &records[index], sizeof (record));
            assert (record.point < lw_modbus_map_points (device->map));
            //  The whole cycle is taken even if the sink asks to stop
            lw_sink_put (self->sink, device->sensors[record.point], record.time,
                         record.value, 0);
        }
    }
    else if (header.kind == S_DOWN) {
        lw_sink_count (
            self->sink,
            header.error == ETIMEDOUT ? self->c_timeouts : self->c_errors, 1);
        device->failures++;
        if (!device->down) {
            device->down = true;
            lw_sink_count (self->sink, self->c_down, 1);
            lw_sink_count (self->sink, device->c_down, 1);
            zsys_warning ("ingest: modbus device down source=%s device=%s "
                          "host=%s port=%s error=%s",
                          self->name, device->name, device->host, device->port,
                          header.text);
        }
    }
    else if (header.kind == S_UP && device->down) {
        device->down = false;
        lw_sink_count (self->sink, self->c_down, -1);
        lw_sink_count (self->sink, device->c_down, -1);
        zsys_info ("ingest: modbus device up source=%s device=%s "
                   "failed_cycles=%llu",
                   self->name, device->name,
                   (unsigned long long)device->failures);
        device->failures = 0;
    }
}

//  --------------------------------------------------------------------------
//  Reader: messages of the device threads

static int
s_handle_pull (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    s_modbus_t *self = (s_modbus_t *)arg;
    void *handle = zsock_resolve (reader);
    for (int message_nbr = 0; message_nbr < S_BURST; message_nbr++) {
        if (message_nbr > 0 && !lw_sink_open (self->sink))
            break;
        zmq_msg_t message;
        zmq_msg_init (&message);
        if (zmq_msg_recv (&message, handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&message);
            break;
        }
        s_take (self, (const uint8_t *)zmq_msg_data (&message),
                zmq_msg_size (&message));
        zmq_msg_close (&message);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Destroys the source: threads first (they use the maps)

static void
s_destroy (void **state_p)
{
    s_modbus_t *self = (s_modbus_t *)*state_p;
    if (self) {
        for (size_t index = 0; index < self->ndevices; index++)
            zactor_destroy (&self->devices[index].actor);
        if (self->reading)
            zloop_reader_end (self->loop, self->pull);
        zsock_destroy (&self->pull);
        for (size_t index = 0; index < self->ndevices; index++) {
            s_device_t *device = &self->devices[index];
            lw_modbus_map_destroy (&device->map);
            free (device->sensors);
            free (device->name);
            free (device->host);
        }
        free (self->devices);
        free (self->name);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Reads one device section; 0 or -1 (logged)

static int
s_device_load (s_modbus_t *self, const lw_source_env_t *env, s_device_t *device,
               const char *name)
{
    char path[S_PATH_MAX], key[S_PATH_MAX + 32];
    snprintf (path, sizeof (path), "%s/device/%s", env->path, name);
    const char *host, *machine;
    long port, unit, interval, timeout, gap, backoff_max;
    int rc = 0;
#define S_KEY(k) (snprintf (key, sizeof (key), "%s/%s", path, k), key)
    rc |= lw_cfg_string (env->config, S_KEY ("host"), "", S_HOST_MAX, &host);
    rc |= lw_cfg_int (env->config, S_KEY ("port"), 502, 1, 65535, &port);
    rc |= lw_cfg_int (env->config, S_KEY ("unit"), 1, 0, 255, &unit);
    rc |= lw_cfg_int (env->config, S_KEY ("interval"), 1000, 10, 3600000,
                      &interval);
    rc |=
        lw_cfg_int (env->config, S_KEY ("timeout"), 1000, 10, 10000, &timeout);
    rc |= lw_cfg_int (env->config, S_KEY ("gap"), 8, 0, LW_MODBUS_REGS_MAX - 1,
                      &gap);
    rc |= lw_cfg_int (env->config, S_KEY ("backoff_max"), 10000, 10, 3600000,
                      &backoff_max);
    rc |= lw_cfg_string (env->config, S_KEY ("machine"), name, LW_KEY_MAX - 1,
                         &machine);
#undef S_KEY
    if (rc)
        return -1;
    if (!*host) {
        zsys_error ("config: %s/host is missing", path);
        return -1;
    }
    device->index = (uint32_t)(device - self->devices);
    device->endpoint = self->endpoint;
    device->c_down = -1;
    device->name = strdup (name);
    device->host = strdup (host);
    snprintf (device->port, sizeof (device->port), "%ld", port);
    device->unit = (int)unit;
    device->interval = interval * LW_NS_PER_MS;
    device->timeout = (int)timeout;
    device->backoff_max =
        (backoff_max < interval ? interval : backoff_max) * LW_NS_PER_MS;
    device->map = lw_modbus_map_new ();
    if (!device->name || !device->host || !device->map)
        return -1;
    if (lw_modbus_map_load (device->map, env->config, path, machine) ||
        lw_modbus_map_plan (device->map, (uint16_t)gap))
        return -1;
    size_t npoints = lw_modbus_map_points (device->map);
    device->sensors = (lw_sensor_t **)calloc (npoints, sizeof (lw_sensor_t *));
    if (!device->sensors)
        return -1;
    for (size_t index = 0; index < npoints; index++) {
        const char *sensor = lw_modbus_map_point (device->map, index)->sensor;
        device->sensors[index] = lw_sink_sensor (self->sink, sensor);
        if (!device->sensors[index]) {
            zsys_error ("ingest: source=%s device=%s cannot register sensor "
                        "%s (ingest/sensors_max too small?)",
                        self->name, name, sensor);
            return -1;
        }
    }
    char counter[LW_STAT_NAME_MAX + 1];
    snprintf (counter, sizeof (counter), "modbus_down_%s", name);
    device->c_down = lw_sink_counter (self->sink, counter);
    if (device->c_down == -1)
        zsys_notice ("ingest: source=%s device=%s: no %s gauge (counter "
                     "table full); modbus_down and the log still tell",
                     self->name, name, counter);
    zsys_info ("ingest: source=%s modbus device=%s host=%s port=%ld unit=%ld "
               "points=%zu requests_per_poll=%zu interval=%ldms timeout=%ldms",
               self->name, name, host, port, unit, npoints,
               lw_modbus_map_reads (device->map), interval, timeout);
    return 0;
}

//  --------------------------------------------------------------------------
//  Validates the config, plans every device, binds the PULL; NULL
//  (logged) if anything is bad. Threads start on start.

static void *
s_create (const lw_source_env_t *env)
{
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/device", env->path);
    zconfig_t *section = zconfig_locate (env->config, path);
    size_t ndevices = 0;
    for (zconfig_t *child = section ? zconfig_child (section) : NULL; child;
         child = zconfig_next (child))
        ndevices++;
    if (ndevices == 0 || ndevices > S_DEVICES_MAX) {
        zsys_error ("config: %s needs 1..%d devices (device/<name>/host...), "
                    "has %zu",
                    env->path, S_DEVICES_MAX, ndevices);
        return NULL;
    }
    s_modbus_t *self = (s_modbus_t *)zmalloc (sizeof (s_modbus_t));
    if (!self)
        return NULL;
    self->loop = env->loop;
    self->sink = env->sink;
    self->name = strdup (env->name);
    self->devices = (s_device_t *)calloc (ndevices, sizeof (s_device_t));
    if (!self->name || !self->devices) {
        s_destroy ((void **)&self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof (self->endpoint), "inproc://lw-modbus-%p",
              (void *)self);
    self->c_polls = lw_sink_counter (self->sink, "modbus_polls");
    self->c_cycle = lw_sink_counter (self->sink, "modbus_cycle_us");
    self->c_requests = lw_sink_counter (self->sink, "modbus_requests");
    self->c_readings = lw_sink_counter (self->sink, "modbus_readings");
    self->c_timeouts = lw_sink_counter (self->sink, "modbus_timeouts");
    self->c_errors = lw_sink_counter (self->sink, "modbus_errors");
    self->c_exceptions = lw_sink_counter (self->sink, "modbus_exceptions");
    self->c_down = lw_sink_counter (self->sink, "modbus_down");
    zconfig_t *child = zconfig_child (section);
    for (; child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        if (!name || !*name || strlen (name) > LW_NAME_MAX) {
            zsys_error ("config: %s: a device name is empty or longer than "
                        "%d bytes",
                        path, LW_NAME_MAX);
            s_destroy ((void **)&self);
            return NULL;
        }
        s_device_t *device = &self->devices[self->ndevices++];
        if (s_device_load (self, env, device, name)) {
            s_destroy ((void **)&self);
            return NULL;
        }
    }
    self->pull = zsock_new (ZMQ_PULL);
    if (!self->pull) {
        s_destroy ((void **)&self);
        return NULL;
    }
    zsock_set_rcvhwm (self->pull, S_PIPE_HWM);
    zsock_set_linger (self->pull, 0);
    if (zsock_bind (self->pull, "%s", self->endpoint) == -1) {
        zsys_error ("ingest: source=%s cannot bind %s", self->name,
                    self->endpoint);
        s_destroy ((void **)&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Starts one thread per device; they poll at once, and wait when the
//  source is paused and their queue is full

static int
s_start (void *state)
{
    s_modbus_t *self = (s_modbus_t *)state;
    for (size_t index = 0; index < self->ndevices; index++) {
        s_device_t *device = &self->devices[index];
        device->actor = zactor_new (s_device_actor, device);
        if (!device->actor)
            return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Stops reading: the device queues fill and the threads wait

static void
s_pause (void *state)
{
    s_modbus_t *self = (s_modbus_t *)state;
    if (self->reading) {
        zloop_reader_end (self->loop, self->pull);
        self->reading = false;
    }
}

//  --------------------------------------------------------------------------
//  Reads again

static void
s_resume (void *state)
{
    s_modbus_t *self = (s_modbus_t *)state;
    if (!self->reading) {
        int rc = zloop_reader (self->loop, self->pull, s_handle_pull, self);
        assert (rc == 0);
        self->reading = true;
    }
}

const lw_source_ops_t lw_source_modbus = {.type = "modbus",
                                          .create = s_create,
                                          .destroy = s_destroy,
                                          .start = s_start,
                                          .pause = s_pause,
                                          .resume = s_resume,
                                          .done = NULL};
