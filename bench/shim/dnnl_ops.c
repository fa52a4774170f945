/*
 * A small C shim over oneDNN's C API for bench/compare_ops.ts: one primitive
 * per call shape, run on the caller's buffers. Compiled at bench time
 * (gcc -O2 -fopenmp -shared -fPIC dnnl_ops.c -ldnnl); never part of the library.
 * Also a zmm (or ymm) copy loop: the bandwidth bound of the same buffers, on
 * as many threads as oneDNN gets.
 */
#include <immintrin.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst;
} op_t;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int init(void) {
  if (engine) return 0;
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return -1;
  if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return -1;
  return 0;
}

static dnnl_alg_kind_t alg_of(const char *name) {
  static const struct { const char *n; dnnl_alg_kind_t a; } table[] = {
      {"relu", dnnl_eltwise_relu},       {"tanh", dnnl_eltwise_tanh},
      {"elu", dnnl_eltwise_elu},         {"sqrt", dnnl_eltwise_sqrt},
      {"softplus", dnnl_eltwise_soft_relu}, {"sigmoid", dnnl_eltwise_logistic},
      {"exp", dnnl_eltwise_exp},         {"geluTanh", dnnl_eltwise_gelu_tanh},
      {"silu", dnnl_eltwise_swish},      {"log", dnnl_eltwise_log},
      {"clip", dnnl_eltwise_clip},       {"gelu", dnnl_eltwise_gelu_erf},
      {"mish", dnnl_eltwise_mish},       {"hardSwish", dnnl_eltwise_hardswish},
      {"abs", dnnl_eltwise_abs},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i].n, name)) return table[i].a;
  return dnnl_alg_kind_undef;
}

/* A primitive and its source and destination memories, on one descriptor. */
static void *finish(const_dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *md) {
  op_t *op = calloc(1, sizeof *op);
  dnnl_primitive_create(&op->prim, pd);
  dnnl_memory_create(&op->src, md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->dst, md, engine, DNNL_MEMORY_NONE);
  return op;
}

/* An eltwise primitive over n floats; NULL if oneDNN lacks the op. */
void *njb_eltwise(const char *name, float alpha, float beta, int64_t n) {
  if (init()) return NULL;
  dnnl_alg_kind_t alg = alg_of(name);
  if (alg == dnnl_alg_kind_undef) return NULL;
  dnnl_dims_t dims = {n};
  dnnl_memory_desc_t md;
  dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
  dnnl_eltwise_desc_t d;
  if (dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, &md, alpha, beta)) return NULL;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  void *op = finish(pd, &md);
  dnnl_primitive_desc_destroy(pd);
  return op;
}

/* Softmax (or logsoftmax) over the last axis of rows × cols. */
void *njb_softmax(int64_t rows, int64_t cols, int log) {
  if (init()) return NULL;
  dnnl_dims_t dims = {rows, cols};
  dnnl_memory_desc_t md;
  dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab);
  dnnl_primitive_desc_t pd;
  if (log) {
    dnnl_logsoftmax_desc_t d;
    if (dnnl_logsoftmax_forward_desc_init(&d, dnnl_forward_inference, &md, 1)) return NULL;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  } else {
    dnnl_softmax_desc_t d;
    if (dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, &md, 1)) return NULL;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  }
  void *op = finish(pd, &md);
  dnnl_primitive_desc_destroy(pd);
  return op;
}

/* Layer normalization over the last axis of rows × cols, with scale and shift (γ, β). */
typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst, scale, shift;
} ln_t;

void *njb_layernorm(int64_t rows, int64_t cols, float eps) {
  if (init()) return NULL;
  dnnl_dims_t dims = {rows, cols};
  dnnl_memory_desc_t md, sd;
  dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab);
  dnnl_dims_t sdims = {cols};
  dnnl_memory_desc_init_by_tag(&sd, 1, sdims, dnnl_f32, dnnl_a);
  dnnl_layer_normalization_desc_t d;
  unsigned flags = dnnl_use_scale | dnnl_use_shift;
  if (dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &md, NULL, eps, flags))
    return NULL;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  ln_t *op = calloc(1, sizeof *op);
  dnnl_primitive_create(&op->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  dnnl_memory_create(&op->src, &md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->dst, &md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->scale, &sd, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->shift, &sd, engine, DNNL_MEMORY_NONE);
  return op;
}

int njb_run_layernorm(void *handle, float *x, float *y, float *scale, float *shift) {
  ln_t *op = handle;
  dnnl_memory_set_data_handle(op->src, x);
  dnnl_memory_set_data_handle(op->dst, y);
  dnnl_memory_set_data_handle(op->scale, scale);
  dnnl_memory_set_data_handle(op->shift, shift);
  dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, op->src}, {DNNL_ARG_DST, op->dst},
                            {DNNL_ARG_SCALE, op->scale}, {DNNL_ARG_SHIFT, op->shift}};
  int s = dnnl_primitive_execute(op->prim, stream, 4, args);
  dnnl_stream_wait(stream);
  return s;
}

/* Runs a primitive made above on x → y. */
int njb_run(void *handle, float *x, float *y) {
  op_t *op = handle;
  dnnl_memory_set_data_handle(op->src, x);
  dnnl_memory_set_data_handle(op->dst, y);
  dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, op->src}, {DNNL_ARG_DST, op->dst}};
  int s = dnnl_primitive_execute(op->prim, stream, 2, args);
  dnnl_stream_wait(stream);
  return s;
}

/* The bandwidth bound: y = x with the widest vector loads and stores, 4 per step. */
__attribute__((target("avx512f"))) static void copy512(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
    _mm512_storeu_ps(y + i, a);
    _mm512_storeu_ps(y + i + 16, b);
    _mm512_storeu_ps(y + i + 32, c);
    _mm512_storeu_ps(y + i + 48, d);
  }
  for (; i < n; i++) y[i] = x[i];
}

__attribute__((target("avx2"))) static void copy256(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    __m256 c = _mm256_loadu_ps(x + i + 16), d = _mm256_loadu_ps(x + i + 24);
    _mm256_storeu_ps(y + i, a);
    _mm256_storeu_ps(y + i + 8, b);
    _mm256_storeu_ps(y + i + 16, c);
    _mm256_storeu_ps(y + i + 24, d);
  }
  for (; i < n; i++) y[i] = x[i];
}

/* The same with non-temporal stores (y's lines written without being read first): y on its
   vector boundary by single floats first. */
__attribute__((target("avx512f"))) static void copy512nt(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(y + i) & 63); i++) y[i] = x[i];
  for (; i + 64 <= n; i += 64) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
    _mm512_stream_ps(y + i, a);
    _mm512_stream_ps(y + i + 16, b);
    _mm512_stream_ps(y + i + 32, c);
    _mm512_stream_ps(y + i + 48, d);
  }
  for (; i < n; i++) y[i] = x[i];
  _mm_sfence();
}

__attribute__((target("avx2"))) static void copy256nt(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(y + i) & 31); i++) y[i] = x[i];
  for (; i + 32 <= n; i += 32) {
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    __m256 c = _mm256_loadu_ps(x + i + 16), d = _mm256_loadu_ps(x + i + 24);
    _mm256_stream_ps(y + i, a);
    _mm256_stream_ps(y + i + 8, b);
    _mm256_stream_ps(y + i + 16, c);
    _mm256_stream_ps(y + i + 24, d);
  }
  for (; i < n; i++) y[i] = x[i];
  _mm_sfence();
}

/* Split between the OpenMP threads (OMP_NUM_THREADS, as oneDNN uses), 64-float chunks.
   mode: 1 the widest vectors (else ymm), 2 non-temporal stores. */
void njb_copy(const float *x, float *y, int64_t n, int mode) {
#pragma omp parallel
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunks = (n + 63) / 64;
    int64_t lo = chunks * t / nt * 64, hi = chunks * (t + 1) / nt * 64;
    if (hi > n) hi = n;
    if (lo < hi) {
      int64_t m = hi - lo;
      if (mode == 3) copy512nt(x + lo, y + lo, m);
      else if (mode == 2) copy256nt(x + lo, y + lo, m);
      else if (mode == 1) copy512(x + lo, y + lo, m);
      else copy256(x + lo, y + lo, m);
    }
  }
}
