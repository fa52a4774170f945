/*
 * A small C shim over oneDNN's C API for bench/compare_conv.ts: one
 * convolution primitive (bias and ReLU post-op) per layer shape. Compiled at
 * bench time (gcc -O2 -fopenmp -shared -fPIC dnnl_conv.c -ldnnl); never part
 * of the library.
 *
 * Two ways to give oneDNN a layer:
 *   nchw: x and y in the caller's NCHW buffers (ONNX's layout), as a model
 *         handed over by ONNX would run; weights reordered once.
 *   preferred: every tensor in the layout oneDNN picks for the shape
 *         (format "any": nChw16c or nhwc, its brgconv kernels); x is reordered
 *         into it once before timing, y stays in it. Reorders are not timed.
 */
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst; /* wei and bias NULL for pooling */
  dnnl_memory_t user_src, user_dst; /* NCHW views of the caller's buffers */
  int preferred;
  dnnl_exec_arg_t extra[4]; /* batch normalization's statistics, scale and shift */
  int nextra;
} conv_t;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int init(void) {
  if (engine) return 0;
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return -1;
  if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return -1;
  return 0;
}

static void reorder(dnnl_memory_t from, dnnl_memory_t to) {
  const dnnl_memory_desc_t *fmd, *tmd;
  dnnl_memory_get_memory_desc(from, &fmd);
  dnnl_memory_get_memory_desc(to, &tmd);
  dnnl_primitive_desc_t rpd;
  dnnl_reorder_primitive_desc_create(&rpd, fmd, engine, tmd, engine, NULL);
  dnnl_primitive_t r;
  dnnl_primitive_create(&r, rpd);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  dnnl_primitive_execute(r, stream, 2, args);
  dnnl_stream_wait(stream);
  dnnl_primitive_destroy(r);
  dnnl_primitive_desc_destroy(rpd);
}

/*
 * A conv primitive; w (oc × c/g × kh × kw) and bias (oc) are copied in now.
 * relu: append a ReLU post-op. transposed: a deconvolution (ONNX
 * ConvTranspose: w is c × oc/g × kh × kw). NULL if oneDNN refuses the shape.
 */
void *njb_conv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, int64_t kh, int64_t kw,
               int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb,
               int64_t pr, int64_t g, int32_t preferred, int32_t relu, float *weights, float *bias,
               int32_t transposed) {
  if (init()) return NULL;
  int64_t oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
  int64_t ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
  if (transposed) {
    oh = sh * (h - 1) + dh * (kh - 1) + 1 - pt - pb;
    ow = sw * (w - 1) + dw * (kw - 1) + 1 - pl - pr;
  }
  dnnl_dims_t src_dims = {n, c, h, w}, dst_dims = {n, oc, oh, ow}, bias_dims = {oc};
  dnnl_dims_t wei_dims = {g, oc / g, c / g, kh, kw};
  dnnl_dims_t strides = {sh, sw}, dil = {dh - 1, dw - 1}, pad_l = {pt, pl}, pad_r = {pb, pr};
  int wei_nd = g > 1 ? 5 : 4;
  dnnl_dims_t wei_plain = {oc, c, kh, kw};
  dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md, user_src_md, user_dst_md, user_wei_md;
  dnnl_format_tag_t act_tag = preferred ? dnnl_format_tag_any : dnnl_nchw;
  dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, act_tag);
  dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, act_tag);
  dnnl_memory_desc_init_by_tag(&user_src_md, 4, src_dims, dnnl_f32, dnnl_nchw);
  dnnl_memory_desc_init_by_tag(&user_dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw);
  if (wei_nd == 5) {
    dnnl_memory_desc_init_by_tag(&wei_md, 5, wei_dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&user_wei_md, 5, wei_dims, dnnl_f32,
                                 transposed ? dnnl_giohw : dnnl_goihw);
  } else {
    dnnl_memory_desc_init_by_tag(&wei_md, 4, wei_plain, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&user_wei_md, 4, wei_plain, dnnl_f32,
                                 transposed ? dnnl_iohw : dnnl_oihw);
  }
  dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x);
  dnnl_convolution_desc_t d;
  dnnl_deconvolution_desc_t dd;
  void *desc = &d;
  if (transposed) {
    desc = &dd;
    if (dnnl_dilated_deconvolution_forward_desc_init(&dd, dnnl_forward_inference,
                                                     dnnl_deconvolution_direct, &src_md, &wei_md,
                                                     &bias_md, &dst_md, strides, dil, pad_l, pad_r))
      return NULL;
  } else if (dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference,
                                                        dnnl_convolution_direct, &src_md, &wei_md,
                                                        &bias_md, &dst_md, strides, dil, pad_l,
                                                        pad_r))
    return NULL;
  dnnl_primitive_attr_t attr = NULL;
  if (relu) {
    dnnl_post_ops_t po;
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    dnnl_primitive_attr_create(&attr);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
  }
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, desc, attr, engine, NULL)) return NULL;
  if (attr) dnnl_primitive_attr_destroy(attr);
  conv_t *op = calloc(1, sizeof *op);
  op->preferred = preferred;
  dnnl_primitive_create(&op->prim, pd);
  const dnnl_memory_desc_t *q_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *q_wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *q_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  dnnl_memory_create(&op->src, q_src, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&op->dst, q_dst, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&op->wei, q_wei, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&op->bias, &bias_md, engine, bias);
  dnnl_memory_create(&op->user_src, &user_src_md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->user_dst, &user_dst_md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_t user_wei;
  dnnl_memory_create(&user_wei, &user_wei_md, engine, weights);
  reorder(user_wei, op->wei);
  dnnl_memory_destroy(user_wei);
  dnnl_primitive_desc_destroy(pd);
  return op;
}

/* The layout oneDNN chose for src, as its format tag's name would print (for the table). */
int njb_conv_blocked(void *handle) {
  conv_t *op = handle;
  const dnnl_memory_desc_t *md;
  dnnl_memory_get_memory_desc(op->src, &md);
  if (md->format_kind != dnnl_blocked) return -1;
  return (int)md->format_desc.blocking.inner_nblks; /* 0: a plain permutation (nhwc/nchw) */
}

/* Preferred layout: x (NCHW) reordered into the primitive's src once. */
void njb_conv_load(void *handle, float *x) {
  conv_t *op = handle;
  dnnl_memory_set_data_handle(op->user_src, x);
  reorder(op->user_src, op->src);
}

/* One call. nchw: on x and y directly. preferred: on its own src/dst (x, y unused). */
int njb_conv_run(void *handle, float *x, float *y) {
  conv_t *op = handle;
  if (!op->preferred) {
    dnnl_memory_set_data_handle(op->src, x);
    dnnl_memory_set_data_handle(op->dst, y);
  }
  dnnl_exec_arg_t args[8] = {{DNNL_ARG_SRC, op->src}, {DNNL_ARG_DST, op->dst}};
  int nargs = 2;
  if (op->wei) {
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, op->wei};
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, op->bias};
  }
  for (int i = 0; i < op->nextra; i++) args[nargs++] = op->extra[i];
  int r = dnnl_primitive_execute(op->prim, stream, nargs, args);
  dnnl_stream_wait(stream);
  return r;
}

/* Preferred layout: the last output reordered into y (NCHW), to check it. */
void njb_conv_store(void *handle, float *y) {
  conv_t *op = handle;
  dnnl_memory_set_data_handle(op->user_dst, y);
  reorder(op->dst, op->user_dst);
}

/* src and dst memories (x's shape in, dst_dims out) in `layout` (0 NCHW, 1 NHWC, 2 nChw16c). */
static conv_t *plain_op(const_dnnl_primitive_desc_t pd, const dnnl_dims_t src_dims,
                        const dnnl_dims_t dst_dims, int32_t layout) {
  dnnl_format_tag_t tag = layout == 0 ? dnnl_nchw : layout == 1 ? dnnl_nhwc : dnnl_aBcd16b;
  dnnl_memory_desc_t src_md, dst_md, user_src_md, user_dst_md;
  dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&user_src_md, 4, src_dims, dnnl_f32, dnnl_nchw);
  dnnl_memory_desc_init_by_tag(&user_dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw);
  conv_t *op = calloc(1, sizeof *op);
  op->preferred = layout != 0;
  dnnl_primitive_create(&op->prim, pd);
  dnnl_memory_create(&op->src, &src_md, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&op->dst, &dst_md, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&op->user_src, &user_src_md, engine, DNNL_MEMORY_NONE);
  dnnl_memory_create(&op->user_dst, &user_dst_md, engine, DNNL_MEMORY_NONE);
  return op;
}

/* Resampling of the last two axes to oh × ow: linear (1) or nearest (0). */
void *njb_resample(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                   int32_t linear, int32_t layout) {
  if (init()) return NULL;
  dnnl_dims_t src_dims = {n, c, h, w}, dst_dims = {n, c, oh, ow};
  dnnl_format_tag_t tag = layout == 0 ? dnnl_nchw : layout == 1 ? dnnl_nhwc : dnnl_aBcd16b;
  dnnl_memory_desc_t src_md, dst_md;
  dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, tag);
  dnnl_resampling_desc_t d;
  const float factors[2] = {(float)oh / (float)h, (float)ow / (float)w};
  if (dnnl_resampling_forward_desc_init(&d, dnnl_forward_inference,
                                        linear ? dnnl_resampling_linear : dnnl_resampling_nearest,
                                        factors, &src_md, &dst_md))
    return NULL;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  conv_t *op = plain_op(pd, src_dims, dst_dims, layout);
  dnnl_primitive_desc_destroy(pd);
  return op;
}

/* Inference batch normalization with the given statistics, scale and shift (c floats each). */
void *njb_batchnorm(int64_t n, int64_t c, int64_t h, int64_t w, float eps, int32_t layout,
                    float *mean, float *var, float *scale, float *shift) {
  if (init()) return NULL;
  dnnl_dims_t dims = {n, c, h, w}, cdims = {c};
  dnnl_format_tag_t tag = layout == 0 ? dnnl_nchw : layout == 1 ? dnnl_nhwc : dnnl_aBcd16b;
  dnnl_memory_desc_t md, cmd;
  dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&cmd, 1, cdims, dnnl_f32, dnnl_x);
  dnnl_batch_normalization_desc_t d;
  if (dnnl_batch_normalization_forward_desc_init(
          &d, dnnl_forward_inference, &md, eps,
          dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift))
    return NULL;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  conv_t *op = plain_op(pd, dims, dims, layout);
  dnnl_primitive_desc_destroy(pd);
  const int args[4] = {DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE, DNNL_ARG_SHIFT};
  float *data[4] = {mean, var, scale, shift};
  for (int i = 0; i < 4; i++) {
    dnnl_memory_t m;
    dnnl_memory_create(&m, &cmd, engine, data[i]);
    op->extra[op->nextra++] = (dnnl_exec_arg_t){args[i], m};
  }
  return op;
}

/*
 * A pooling primitive: alg 0 max, 1 average excluding padding, 2 average
 * including it. layout 0: NCHW (the caller's buffers); 1: NHWC; 2: nChw16c
 * (x reordered into it once by njb_conv_load, y left in it).
 */
void *njb_pool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
               int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int32_t alg,
               int32_t layout) {
  if (init()) return NULL;
  int64_t oh = (h + pt + pb - kh) / sh + 1, ow = (w + pl + pr - kw) / sw + 1;
  dnnl_dims_t src_dims = {n, c, h, w}, dst_dims = {n, c, oh, ow};
  dnnl_dims_t strides = {sh, sw}, kernel = {kh, kw}, pad_l = {pt, pl}, pad_r = {pb, pr};
  dnnl_format_tag_t tag = layout == 0 ? dnnl_nchw : layout == 1 ? dnnl_nhwc : dnnl_aBcd16b;
  dnnl_memory_desc_t src_md, dst_md;
  dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, tag);
  dnnl_alg_kind_t a = alg == 0   ? dnnl_pooling_max
                      : alg == 1 ? dnnl_pooling_avg_exclude_padding
                                 : dnnl_pooling_avg_include_padding;
  dnnl_pooling_desc_t d;
  if (dnnl_pooling_forward_desc_init(&d, dnnl_forward_inference, a, &src_md, &dst_md, strides,
                                     kernel, pad_l, pad_r))
    return NULL;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL)) return NULL;
  conv_t *op = plain_op(pd, src_dims, dst_dims, layout);
  dnnl_primitive_desc_destroy(pd);
  return op;
}
