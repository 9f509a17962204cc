/* SPDX-License-Identifier: MIT */
/*
 * Shared fixtures for the command-layer tests: a fake transport queue that
 * captures completions and disconnect requests, an in-memory backend whose
 * behaviour (zero-copy map, deferred completion, failures) the test picks,
 * and helpers that build and run commands the way a transport would.
 */
#ifndef TEST_TARGET_HARNESS_H
#define TEST_TARGET_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/log.h"
#include "proto/endian.h"
#include "target/internal.h"
#include "target/target.h"

/* The namespace of env_setup: larger than one command's largest transfer (MDTS). */
#define TEST_NS_BYTES (2u * NVMF_MAX_XFER)

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define HOSTNQN2 "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555"
#define SUBNQN "nqn.2024-01.io.nvmeof:test1"
#define SUBNQN2 "nqn.2024-01.io.nvmeof:test2"

/* ---- test backend ---- */

struct test_backend {
	struct backend be;
	uint8_t *mem;
	bool can_map;
	bool defer; /* keep I/O until test_backend_finish() */
	int fail; /* -errno returned through done() */
	struct backend_io *pending[8];
	unsigned int nr_pending;
	unsigned int last_op;
	bool last_fua;
	unsigned int discards;
	unsigned int flushes;
	bool closed_flag;
	bool *closed; /* set when the namespace closes it */
};

static inline int tb_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	struct test_backend *tb = (struct test_backend *)be;

	(void)r;
	tb->last_op = io->op;
	tb->last_fua = io->fua;
	if (io->op != BACKEND_FLUSH && io->offset + io->len > be->size)
		return -EINVAL;
	if (tb->defer) {
		tb->pending[tb->nr_pending++] = io;
		return 0;
	}
	if (!tb->fail) {
		switch (io->op) {
		case BACKEND_READ:
			memcpy(io->buf, tb->mem + io->offset, io->len);
			break;
		case BACKEND_WRITE:
			memcpy(tb->mem + io->offset, io->buf, io->len);
			break;
		case BACKEND_WRITE_ZEROES:
			memset(tb->mem + io->offset, 0, io->len);
			break;
		case BACKEND_DISCARD:
			tb->discards++;
			memset(tb->mem + io->offset, 0, io->len);
			break;
		case BACKEND_FLUSH:
			tb->flushes++;
			break;
		}
	}
	io->done(io, tb->fail);
	return 0;
}

static inline void *tb_map(struct backend *be, uint64_t offset, uint64_t len)
{
	struct test_backend *tb = (struct test_backend *)be;

	if (!tb->can_map || offset + len > be->size)
		return NULL;
	return tb->mem + offset;
}

static inline int tb_sync(struct backend *be)
{
	((struct test_backend *)be)->flushes++;
	return 0;
}

static inline void tb_close(struct backend *be)
{
	struct test_backend *tb = (struct test_backend *)be;

	if (tb->closed)
		*tb->closed = true;
	free(tb->mem);
	free(tb->be.path);
	free(tb);
}

static const struct backend_ops tb_ops = {
	.submit = tb_submit,
	.map = tb_map,
	.sync = tb_sync,
	.close = tb_close,
};

static struct test_backend *test_backend_new(uint64_t size, uint32_t bs, const char *path)
{
	struct test_backend *tb = calloc(1, sizeof(*tb));

	assert_non_null(tb);
	tb->mem = calloc(1, size);
	assert_non_null(tb->mem);
	tb->be.ops = &tb_ops;
	tb->be.kind = path ? BACKEND_FILE : BACKEND_RAM;
	tb->be.path = path ? strdup(path) : NULL;
	tb->be.size = size;
	tb->be.block_size = bs;
	tb->be.volatile_cache = true;
	return tb;
}

/* Complete every deferred backend I/O (on the calling thread). */
static inline void test_backend_finish(struct test_backend *tb)
{
	unsigned int n = tb->nr_pending;

	tb->nr_pending = 0;
	tb->defer = false;
	for (unsigned int i = 0; i < n; i++) {
		struct backend_io *io = tb->pending[i];

		if (io->op == BACKEND_READ)
			memcpy(io->buf, tb->mem + io->offset, io->len);
		else if (io->op == BACKEND_WRITE)
			memcpy(tb->mem + io->offset, io->buf, io->len);
		io->done(io, 0);
	}
}

/* ---- fake transport queue ---- */

struct fake_sq {
	struct nvmf_sq sq;
	struct nvmf_req req;
	unsigned int completions;
	atomic_uint disconnects; /* control thread or reactor */
	struct nvme_cqe cqe; /* last response */
	uint8_t *c2h; /* copy of the last C2H payload */
	uint32_t c2h_len;
	struct nvmf_req *last;
};

static inline void fake_complete(struct nvmf_req *req)
{
	struct fake_sq *f = container_of(req->sq, struct fake_sq, sq);

	f->completions++;
	f->cqe = req->rsp;
	f->last = req;
	f->c2h_len = 0;
	if (req->status == 0 && req->c2h_data && req->c2h_len) {
		memcpy(f->c2h, req->c2h_data, req->c2h_len);
		f->c2h_len = req->c2h_len;
	}
	/* "Sent": the transport is done with the request. */
	nvmf_req_release(req);
}

static inline void fake_disconnect(struct nvmf_sq *sq)
{
	container_of(sq, struct fake_sq, sq)->disconnects++;
}

static const struct nvmf_sq_ops fake_ops = {
	.complete = fake_complete,
	.disconnect = fake_disconnect,
};

static struct fake_sq *fake_sq_new(struct nvmf_tgt *tgt, struct reactor *r, struct nvmf_port *port)
{
	struct fake_sq *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->sq.peer, sizeof(f->sq.peer), "192.0.2.1:40000");
	snprintf(f->sq.local_addr, sizeof(f->sq.local_addr), "192.0.2.10");
	nvmf_sq_init(&f->sq, tgt, &fake_ops, r, port);
	f->req.sq = &f->sq;
	f->req.data = calloc(1, NVMF_MAX_XFER);
	f->c2h = calloc(1, NVMF_MAX_XFER);
	assert_non_null(f->req.data);
	assert_non_null(f->c2h);
	return f;
}

/*
 * The reactor runs on its own thread for the whole test, as in the daemon;
 * everything a transport would do on it is handed over and waited for.
 */
struct reactor_call {
	void (*fn)(void *arg);
	void *arg;
	sem_t done;
};

static inline void reactor_call_tramp(void *a)
{
	struct reactor_call *c = a;

	c->fn(c->arg);
	sem_post(&c->done);
}

static inline void on_reactor(struct reactor *r, void (*fn)(void *), void *arg)
{
	struct reactor_call c = { .fn = fn, .arg = arg };

	sem_init(&c.done, 0, 0);
	assert_int_equal(reactor_post(r, reactor_call_tramp, &c), 0);
	while (sem_wait(&c.done) != 0)
		;
	sem_destroy(&c.done);
}

static inline void noop(void *arg)
{
	(void)arg;
}

/* Wait until everything posted to r so far has run. */
static inline void pump(struct reactor *r)
{
	on_reactor(r, noop, NULL);
}

static inline void run_for_ms(struct reactor *r, unsigned int ms)
{
	usleep(ms * 1000);
	pump(r);
}

static inline void close_on_reactor(void *arg)
{
	struct fake_sq *f = arg;

	nvmf_sq_shutdown(&f->sq);
	nvmf_sq_closed(&f->sq);
}

static inline void fake_sq_close(struct fake_sq *f)
{
	on_reactor(f->sq.reactor, close_on_reactor, f);
	free(f->req.data);
	free(f->c2h);
	free(f);
}

/* ---- commands ---- */

static inline void cmd_reset(struct nvmf_req *req, uint8_t opcode)
{
	memset(&req->cmd, 0, sizeof(req->cmd));
	req->cmd.opcode = opcode;
	req->cmd.flags = NVME_SQE_FLAGS_SGL;
	req->cmd.cid = to_le16(0x1234);
	req->data_len = 0;
	req->in_capsule = false;
	req->start_ns = 0;
}

/* Parse, then execute, as a transport does; returns the status (SCT<<8|SC|DNR)
 * of the completion if one happened synchronously, or -1. */
static inline void run_req_on_reactor(void *arg)
{
	struct nvmf_req *req = arg;
	uint16_t status = nvmf_req_parse(req);

	if (status)
		nvmf_req_complete(req, status);
	else
		nvmf_req_execute(req);
}

static inline int run_req(struct fake_sq *f, struct nvmf_req *req)
{
	unsigned int before = f->completions;

	on_reactor(f->sq.reactor, run_req_on_reactor, req);
	if (f->completions == before)
		return -1;
	return NVME_STATUS_FROM_CQE(le16(f->cqe.status));
}

static inline int run_cmd(struct fake_sq *f)
{
	return run_req(f, &f->req);
}

static inline int do_connect(struct fake_sq *f, uint16_t qid, uint16_t sqsize, uint16_t cntlid, const char *subnqn,
		      const char *hostnqn, uint32_t kato)
{
	struct nvmf_connect_sqe *c = (struct nvmf_connect_sqe *)&f->req.cmd;
	struct nvmf_connect_data *d = f->req.data;

	cmd_reset(&f->req, NVME_FABRICS_COMMAND);
	c->fctype = NVMF_FCTYPE_CONNECT;
	c->qid = to_le16(qid);
	c->sqsize = to_le16(sqsize);
	c->kato = to_le32(kato);
	memset(d, 0, sizeof(*d));
	memset(d->hostid, 0xab, sizeof(d->hostid));
	d->cntlid = to_le16(cntlid);
	snprintf(d->subnqn, sizeof(d->subnqn), "%s", subnqn);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", hostnqn);
	f->req.data_len = sizeof(*d);
	f->req.in_capsule = true;
	return run_cmd(f);
}

static inline int prop_set(struct fake_sq *f, uint32_t offset, uint64_t value, uint8_t attrib)
{
	struct nvmf_property_sqe *p = (struct nvmf_property_sqe *)&f->req.cmd;

	cmd_reset(&f->req, NVME_FABRICS_COMMAND);
	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->attrib = attrib;
	p->offset = to_le32(offset);
	p->value = to_le64(value);
	return run_cmd(f);
}

static inline int prop_get(struct fake_sq *f, uint32_t offset, uint8_t attrib, uint64_t *value)
{
	struct nvmf_property_sqe *p = (struct nvmf_property_sqe *)&f->req.cmd;
	int st;

	cmd_reset(&f->req, NVME_FABRICS_COMMAND);
	p->fctype = NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = attrib;
	p->offset = to_le32(offset);
	st = run_cmd(f);
	if (value)
		*value = (uint64_t)le32(f->cqe.dw0) | ((uint64_t)le32(f->cqe.dw1) << 32);
	return st;
}

#define CC_ENABLE (NVME_CC_EN | (6u << 16) | (4u << 20))

static inline void enable_ctrl(struct fake_sq *f)
{
	uint64_t csts;

	assert_int_equal(prop_set(f, NVME_REG_CC, CC_ENABLE, 0), 0);
	assert_int_equal(prop_get(f, NVME_REG_CSTS, 0, &csts), 0);
	assert_true(csts & NVME_CSTS_RDY);
}

static inline int identify(struct fake_sq *f, uint8_t cns, uint32_t nsid)
{
	cmd_reset(&f->req, NVME_ADMIN_IDENTIFY);
	f->req.cmd.nsid = to_le32(nsid);
	f->req.cmd.cdw10 = to_le32(cns);
	f->req.data_len = NVME_IDENTIFY_SIZE;
	return run_cmd(f);
}

static inline int get_log(struct fake_sq *f, uint8_t lid, uint32_t nsid, uint64_t offset, uint32_t len, bool rae)
{
	uint32_t numd = len / 4 - 1;

	cmd_reset(&f->req, NVME_ADMIN_GET_LOG_PAGE);
	f->req.cmd.nsid = to_le32(nsid);
	f->req.cmd.cdw10 = to_le32(lid | (rae ? 1u << 15 : 0) | ((numd & 0xffff) << 16));
	f->req.cmd.cdw11 = to_le32(numd >> 16);
	f->req.cmd.cdw12 = to_le32((uint32_t)offset);
	f->req.cmd.cdw13 = to_le32((uint32_t)(offset >> 32));
	f->req.data_len = len;
	return run_cmd(f);
}

static inline int set_feature(struct fake_sq *f, uint32_t cdw10, uint32_t cdw11)
{
	cmd_reset(&f->req, NVME_ADMIN_SET_FEATURES);
	f->req.cmd.cdw10 = to_le32(cdw10);
	f->req.cmd.cdw11 = to_le32(cdw11);
	return run_cmd(f);
}

static inline int get_feature(struct fake_sq *f, uint32_t cdw10, uint32_t cdw11, uint32_t data_len)
{
	cmd_reset(&f->req, NVME_ADMIN_GET_FEATURES);
	f->req.cmd.cdw10 = to_le32(cdw10);
	f->req.cmd.cdw11 = to_le32(cdw11);
	f->req.data_len = data_len;
	return run_cmd(f);
}

static inline void rw_setup(struct nvmf_req *req, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb0,
		     uint32_t len)
{
	cmd_reset(req, opc);
	req->cmd.nsid = to_le32(nsid);
	req->cmd.cdw10 = to_le32((uint32_t)slba);
	req->cmd.cdw11 = to_le32((uint32_t)(slba >> 32));
	req->cmd.cdw12 = to_le32(nlb0);
	req->data_len = len;
}

static inline int io_cmd(struct fake_sq *f, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb0, uint32_t len)
{
	rw_setup(&f->req, opc, nsid, slba, nlb0, len);
	return run_cmd(f);
}

/* ---- a target with one port and one subsystem ---- */

struct env {
	struct nvmf_tgt *tgt;
	struct reactor *r;
	pthread_t thread;
	struct nvmf_port *port;
	struct nvmf_subsys *subsys;
	struct test_backend *tb;
	bool tb_closed;
};

static inline void *reactor_thread(void *arg)
{
	reactor_run(arg);
	return NULL;
}

static inline void env_setup(struct env *e, bool allow_any)
{
	struct nvmf_port_opts po = { .portid = 1, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_ns_opts no = { .nsid = 1, .enabled = true };

	memset(e, 0, sizeof(*e));
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(nvmf_tgt_create(&e->tgt), 0);
	assert_int_equal(reactor_create(NULL, &e->r), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, reactor_thread, e->r), 0);
	nvmf_tgt_set_reactors(e->tgt, &e->r, 1);
	snprintf(po.traddr, sizeof(po.traddr), "0.0.0.0");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "4420");
	assert_int_equal(nvmf_port_create(e->tgt, &po, &e->port), 0);
	assert_int_equal(nvmf_subsys_create(e->tgt, SUBNQN, &e->subsys), 0);
	nvmf_subsys_set_allow_any_host(e->subsys, allow_any);
	assert_int_equal(nvmf_port_add_subsys(e->port, e->subsys), 0);
	e->tb = test_backend_new(TEST_NS_BYTES, 512, NULL);
	e->tb->closed = &e->tb_closed;
	no.backend = &e->tb->be;
	assert_int_equal(nvmf_subsys_add_ns(e->subsys, &no, NULL), 0);
}

static inline void env_teardown(struct env *e)
{
	pump(e->r); /* deferred controller frees */
	reactor_stop(e->r);
	pthread_join(e->thread, NULL);
	nvmf_tgt_destroy(e->tgt);
	reactor_destroy(e->r);
}

/* Admin queue connected and enabled on SUBNQN; returns the CNTLID. */
static inline uint16_t admin_up(struct env *e, struct fake_sq **out, const char *hostnqn)
{
	struct fake_sq *f = fake_sq_new(e->tgt, e->r, e->port);
	uint16_t cntlid;

	assert_int_equal(do_connect(f, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, hostnqn, 0), 0);
	cntlid = (uint16_t)le32(f->cqe.dw0);
	enable_ctrl(f);
	*out = f;
	return cntlid;
}

static struct json_object *jpath(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

#endif
