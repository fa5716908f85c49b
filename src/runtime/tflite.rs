//! `.tflite` flatbuffer -> [`FlatModel`]: tensors, constants and a list of supported ops.
//!
//! The flatbuffer is checked by the generated verifier before anything is read, so a
//! malformed file is an [`Error`], never a panic. fp16 weights (DEQUANTIZE) and sparse
//! weights (DENSIFY) are folded into dense f32 constants here, so the executor only sees
//! f32 constants and compute ops.

use half::f16;

use super::tflite_subset_generated::tflite as fb;
use super::Error;

/// Fused (or standalone) activation applied to an op's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, -1), 1).
    ReluN1To1,
    /// min(max(x, 0), 6).
    Relu6,
    /// tanh(x).
    Tanh,
}

/// TFLite padding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size ceil(in / stride); padding split with the extra pixel after.
    Same,
    /// No padding.
    Valid,
}

/// Window parameters shared by convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Padding scheme.
    pub padding: Padding,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation (1 for pools).
    pub dilation_h: usize,
    /// Horizontal dilation (1 for pools).
    pub dilation_w: usize,
}

/// One supported operation with its options.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// CONV_2D: inputs (data, filter OHWI, bias).
    Conv2d {
        /// Strides, dilations, padding.
        window: Window,
        /// Fused activation.
        activation: Activation,
    },
    /// DEPTHWISE_CONV_2D with depth multiplier 1: inputs (data, filter 1HWC, bias).
    DepthwiseConv2d {
        /// Strides, dilations, padding.
        window: Window,
        /// Fused activation.
        activation: Activation,
    },
    /// Mediapipe's custom Convolution2DTransposeBias: inputs (data, filter OHWI, bias).
    TransposeConvBias {
        /// Strides and padding (dilation 1).
        window: Window,
    },
    /// ADD with broadcasting.
    Add(Activation),
    /// MUL with broadcasting.
    Mul(Activation),
    /// PAD with zeros; paddings come from a constant [rank, 2] tensor.
    Pad,
    /// RESHAPE; the target comes from the options or a constant shape input.
    Reshape {
        /// Target shape from the options, if present.
        new_shape: Option<Vec<i32>>,
    },
    /// CONCATENATION along `axis` (negative counts from the end).
    Concatenation {
        /// Axis.
        axis: i32,
        /// Fused activation.
        activation: Activation,
    },
    /// MAX_POOL_2D.
    MaxPool2d {
        /// Window strides and padding.
        window: Window,
        /// Filter height.
        filter_h: usize,
        /// Filter width.
        filter_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// AVERAGE_POOL_2D (padding excluded from the count, as TFLite does).
    AveragePool2d {
        /// Window strides and padding.
        window: Window,
        /// Filter height.
        filter_h: usize,
        /// Filter width.
        filter_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// RESIZE_BILINEAR to the size given by a constant input.
    ResizeBilinear {
        /// Corner pixels aligned.
        align_corners: bool,
        /// Sample at pixel centres.
        half_pixel_centers: bool,
    },
    /// DEPTH_TO_SPACE in TFLite's channel order.
    DepthToSpace {
        /// Block size.
        block_size: usize,
    },
    /// Standalone activation (RELU, RELU6).
    Activation(Activation),
    /// HARD_SWISH.
    HardSwish,
    /// LOGISTIC (sigmoid).
    Logistic,
    /// PRELU with a constant alpha.
    Prelu,
}

impl OpKind {
    /// Short op name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv2d { .. } => "CONV_2D",
            OpKind::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            OpKind::TransposeConvBias { .. } => "Convolution2DTransposeBias",
            OpKind::Add(_) => "ADD",
            OpKind::Mul(_) => "MUL",
            OpKind::Pad => "PAD",
            OpKind::Reshape { .. } => "RESHAPE",
            OpKind::Concatenation { .. } => "CONCATENATION",
            OpKind::MaxPool2d { .. } => "MAX_POOL_2D",
            OpKind::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            OpKind::ResizeBilinear { .. } => "RESIZE_BILINEAR",
            OpKind::DepthToSpace { .. } => "DEPTH_TO_SPACE",
            OpKind::Activation(_) => "activation",
            OpKind::HardSwish => "HARD_SWISH",
            OpKind::Logistic => "LOGISTIC",
            OpKind::Prelu => "PRELU",
        }
    }
}

/// An op with the tensor indices it reads (`None` for an omitted optional input) and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What to compute.
    pub kind: OpKind,
    /// Input tensor indices.
    pub inputs: Vec<Option<usize>>,
    /// Output tensor indices.
    pub outputs: Vec<usize>,
}

/// Values of a constant tensor after folding.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    /// Float data (fp16 weights are widened at load).
    F32(Vec<f32>),
    /// Integer data (shapes, paddings, sizes).
    I32(Vec<i32>),
}

/// A tensor of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDesc {
    /// Name in the file.
    pub name: String,
    /// Stored shape (batch 1).
    pub shape: Vec<usize>,
    /// Constant values, if the tensor is a weight or a folded constant.
    pub constant: Option<Constant>,
}

/// A parsed model: tensors, ops in execution order, graph inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatModel {
    /// All tensors, indexed as in the file.
    pub tensors: Vec<TensorDesc>,
    /// Compute ops in execution order (DEQUANTIZE and DENSIFY already folded away).
    pub operations: Vec<Operation>,
    /// Graph input tensor indices.
    pub inputs: Vec<usize>,
    /// Graph output tensor indices.
    pub outputs: Vec<usize>,
}

/// Builtin operator codes of the TFLite schema that this loader knows.
mod code {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEPTH_TO_SPACE: i32 = 5;
    pub const DEQUANTIZE: i32 = 6;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const RESIZE_BILINEAR: i32 = 23;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const PRELU: i32 = 54;
    pub const HARD_SWISH: i32 = 117;
    pub const DENSIFY: i32 = 124;
}

const TRANSPOSE_CONV_BIAS: &str = "Convolution2DTransposeBias";

fn malformed(msg: impl Into<String>) -> Error {
    Error::Malformed(msg.into())
}

/// Parses and verifies a `.tflite` file, folding DEQUANTIZE/DENSIFY into constants.
pub fn parse(bytes: &[u8]) -> Result<FlatModel, Error> {
    // The identifier check reads bytes 4..8 without a bounds check of its own.
    if bytes.len() < 8 || !fb::model_buffer_has_identifier(bytes) {
        return Err(malformed(
            "missing the TFL3 file identifier (not a .tflite file?)",
        ));
    }
    // flatbuffers 2.1's verifier negates a signed offset with `abs()`, which overflows for
    // i32::MIN in a malformed file: a panic where overflow checks are on (debug builds, tests,
    // fuzzing), a bounds error where they are off. The fix (`unsigned_abs`, flatbuffers 22.9.29)
    // comes with an API that code generated by our flatc 2.0.8 predates, so the panic is turned
    // into the error it means here. The verifier only reads `bytes`, so nothing is left half-done.
    let verified = std::panic::catch_unwind(|| fb::root_as_model(bytes))
        .map_err(|_| malformed("a signed offset out of range (flatbuffers verifier overflow)"))?;
    let model = verified?;
    let subgraphs = model.subgraphs().ok_or_else(|| malformed("no subgraphs"))?;
    if subgraphs.len() != 1 {
        return Err(Error::Unsupported(format!(
            "{} subgraphs (only single-subgraph models are supported)",
            subgraphs.len()
        )));
    }
    let graph = subgraphs.get(0);
    let buffers: Vec<&[u8]> = match model.buffers() {
        Some(list) => list
            .iter()
            .map(|b| {
                if b.offset() > 1 {
                    Err(Error::Unsupported(
                        "buffers stored outside the flatbuffer (models over 2 GB)".into(),
                    ))
                } else {
                    Ok(b.data().unwrap_or(&[]))
                }
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let fb_tensors = graph.tensors().ok_or_else(|| malformed("no tensors"))?;
    let mut tensors = Vec::with_capacity(fb_tensors.len());
    for (index, t) in fb_tensors.iter().enumerate() {
        tensors.push(read_tensor(index, &t, &buffers)?);
    }
    let tensor_count = tensors.len();
    let index = |i: i32, what: &str| -> Result<usize, Error> {
        usize::try_from(i)
            .ok()
            .filter(|&i| i < tensor_count)
            .ok_or_else(|| malformed(format!("{what} refers to tensor {i} of {tensor_count}")))
    };
    let inputs = graph
        .inputs()
        .ok_or_else(|| malformed("no graph inputs"))?
        .iter()
        .map(|i| index(i, "graph input"))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph
        .outputs()
        .ok_or_else(|| malformed("no graph outputs"))?
        .iter()
        .map(|i| index(i, "graph output"))
        .collect::<Result<Vec<_>, _>>()?;

    let codes = model
        .operator_codes()
        .ok_or_else(|| malformed("no operator codes"))?;
    let mut operations = Vec::new();
    for (op_index, op) in graph.operators().into_iter().flatten().enumerate() {
        let code_index = op.opcode_index() as usize;
        if code_index >= codes.len() {
            return Err(malformed(format!(
                "op {op_index} uses operator code {code_index} of {}",
                codes.len()
            )));
        }
        let opcode = codes.get(code_index);
        let builtin = opcode
            .builtin_code()
            .max(i32::from(opcode.deprecated_builtin_code()));
        let op_inputs = op
            .inputs()
            .into_iter()
            .flatten()
            .map(|i| {
                if i < 0 {
                    Ok(None)
                } else {
                    index(i, "op input").map(Some)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let op_outputs = op
            .outputs()
            .into_iter()
            .flatten()
            .map(|i| index(i, "op output"))
            .collect::<Result<Vec<_>, _>>()?;
        let context = |name: &str| format!("op {op_index} ({name})");
        if builtin == code::DEQUANTIZE || builtin == code::DENSIFY {
            fold_constant(&mut tensors, &op_inputs, &op_outputs, &context("fold"))?;
            continue;
        }
        let kind = op_kind(&op, builtin, opcode.custom_code(), &context)?;
        operations.push(Operation {
            kind,
            inputs: op_inputs,
            outputs: op_outputs,
        });
    }
    Ok(FlatModel {
        tensors,
        operations,
        inputs,
        outputs,
    })
}

/// DEQUANTIZE and DENSIFY of constants: the values were already widened/densified when the
/// tensor was read, so the op's output simply takes the input's values.
fn fold_constant(
    tensors: &mut [TensorDesc],
    inputs: &[Option<usize>],
    outputs: &[usize],
    context: &str,
) -> Result<(), Error> {
    let (Some(Some(input)), Some(&output)) = (inputs.first(), outputs.first()) else {
        return Err(malformed(format!(
            "{context}: needs one input and one output"
        )));
    };
    let source = tensors
        .get(*input)
        .ok_or_else(|| malformed(format!("{context}: bad input")))?;
    let Some(values) = source.constant.clone() else {
        return Err(Error::Unsupported(format!(
            "{context}: DEQUANTIZE/DENSIFY of a non-constant tensor"
        )));
    };
    let in_shape = source.shape.clone();
    let target = tensors
        .get_mut(output)
        .ok_or_else(|| malformed(format!("{context}: bad output")))?;
    if target.shape != in_shape {
        return Err(malformed(format!(
            "{context}: output shape {:?} differs from input shape {in_shape:?}",
            target.shape
        )));
    }
    target.constant = Some(values);
    Ok(())
}

fn read_tensor(index: usize, t: &fb::Tensor<'_>, buffers: &[&[u8]]) -> Result<TensorDesc, Error> {
    let name = t.name().unwrap_or_default().to_string();
    let shape = t
        .shape()
        .into_iter()
        .flatten()
        .map(|d| {
            usize::try_from(d)
                .map_err(|_| malformed(format!("tensor {index} ({name}) has dimension {d}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = buffers.get(t.buffer() as usize).copied().unwrap_or(&[]);
    if data.is_empty() {
        return Ok(TensorDesc {
            name,
            shape,
            constant: None,
        });
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(format!("tensor {index} ({name}) is too large")))?;
    let context = format!("tensor {index} ({name})");
    let constant = match t.type_() {
        fb::TensorType::FLOAT32 => {
            let values = le_words(data, 4, &context)?
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            Constant::F32(values)
        }
        fb::TensorType::FLOAT16 => {
            let values = le_words(data, 2, &context)?
                .map(|w| f16::from_le_bytes([w[0], w[1]]).to_f32())
                .collect();
            Constant::F32(values)
        }
        fb::TensorType::INT32 => {
            let values = le_words(data, 4, &context)?
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            Constant::I32(values)
        }
        other => {
            return Err(Error::Unsupported(format!(
                "{context}: constant of type {other:?}"
            )))
        }
    };
    let constant = match t.sparsity() {
        Some(sparsity) => densify(&sparsity, &shape, constant, &context)?,
        None => constant,
    };
    let stored = match &constant {
        Constant::F32(v) => v.len(),
        Constant::I32(v) => v.len(),
    };
    if stored != count {
        return Err(malformed(format!(
            "{context}: shape {shape:?} needs {count} values, buffer holds {stored}"
        )));
    }
    Ok(TensorDesc {
        name,
        shape,
        constant: Some(constant),
    })
}

fn le_words<'a>(
    data: &'a [u8],
    width: usize,
    context: &str,
) -> Result<std::slice::ChunksExact<'a, u8>, Error> {
    if !data.len().is_multiple_of(width) {
        return Err(malformed(format!(
            "{context}: buffer of {} bytes is not a multiple of {width}",
            data.len()
        )));
    }
    Ok(data.chunks_exact(width))
}

fn index_vector(
    kind: fb::SparseIndexVector,
    table: Option<flatbuffers::Table<'_>>,
    context: &str,
) -> Result<Vec<usize>, Error> {
    let missing = || malformed(format!("{context}: sparse index vector missing"));
    let table = table.ok_or_else(missing)?;
    // The verifier has checked the union member's table against `kind`.
    let values: Vec<usize> = match kind {
        fb::SparseIndexVector::Int32Vector => {
            let v = fb::Int32Vector::init_from_table(table);
            v.values()
                .into_iter()
                .flatten()
                .map(|x| usize::try_from(x).map_err(|_| malformed(format!("{context}: index {x}"))))
                .collect::<Result<_, _>>()?
        }
        fb::SparseIndexVector::Uint16Vector => fb::Uint16Vector::init_from_table(table)
            .values()
            .into_iter()
            .flatten()
            .map(usize::from)
            .collect(),
        fb::SparseIndexVector::Uint8Vector => fb::Uint8Vector::init_from_table(table)
            .values()
            .unwrap_or(&[])
            .iter()
            .map(|&x| usize::from(x))
            .collect(),
        _ => return Err(missing()),
    };
    Ok(values)
}

/// Expands a sparse constant (TFLite sparsity: dense or CSR dimensions in traversal order,
/// no blocks) into its dense row-major values.
fn densify(
    sparsity: &fb::SparsityParameters<'_>,
    shape: &[usize],
    stored: Constant,
    context: &str,
) -> Result<Constant, Error> {
    let Constant::F32(values) = stored else {
        return Err(Error::Unsupported(format!(
            "{context}: sparse integer tensor"
        )));
    };
    if sparsity.block_map().is_some_and(|b| !b.is_empty()) {
        return Err(Error::Unsupported(format!(
            "{context}: block-sparse tensor"
        )));
    }
    let rank = shape.len();
    let order: Vec<usize> = match sparsity.traversal_order() {
        Some(o) => o
            .iter()
            .map(|d| usize::try_from(d).ok().filter(|&d| d < rank))
            .collect::<Option<_>>()
            .ok_or_else(|| malformed(format!("{context}: bad traversal order")))?,
        None => (0..rank).collect(),
    };
    let mut seen = vec![false; rank];
    for &d in &order {
        if std::mem::replace(&mut seen[d], true) {
            return Err(malformed(format!("{context}: traversal order repeats {d}")));
        }
    }
    let dims = sparsity
        .dim_metadata()
        .ok_or_else(|| malformed(format!("{context}: sparse tensor without dim metadata")))?;
    if order.len() != rank || dims.len() != rank {
        return Err(malformed(format!(
            "{context}: sparsity describes {} dims for a rank {rank} tensor",
            dims.len()
        )));
    }
    // Row-major strides of the dense tensor.
    let mut strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let total: usize = shape.iter().product();
    // Walk level by level: each node is (position in its level, dense offset so far).
    let mut nodes: Vec<usize> = vec![0];
    for (level, &dim) in order.iter().enumerate() {
        let meta = dims.get(level);
        let size = shape[dim];
        let mut next = Vec::new();
        if meta.format() == fb::DimensionType::SPARSE_CSR {
            let segments =
                index_vector(meta.array_segments_type(), meta.array_segments(), context)?;
            let indices = index_vector(meta.array_indices_type(), meta.array_indices(), context)?;
            if segments.len() != nodes.len() + 1 {
                return Err(malformed(format!(
                    "{context}: level {level} has {} segments for {} parents",
                    segments.len(),
                    nodes.len()
                )));
            }
            for (parent, &offset) in nodes.iter().enumerate() {
                let (start, end) = (segments[parent], segments[parent + 1]);
                let run = indices
                    .get(start..end)
                    .ok_or_else(|| malformed(format!("{context}: bad CSR segment")))?;
                for &i in run {
                    if i >= size {
                        return Err(malformed(format!("{context}: CSR index {i} >= {size}")));
                    }
                    next.push(offset + i * strides[dim]);
                }
            }
        } else {
            let dense = usize::try_from(meta.dense_size()).unwrap_or(0);
            if dense != size {
                return Err(malformed(format!(
                    "{context}: dense level {level} of size {dense}, dimension is {size}"
                )));
            }
            next.reserve(nodes.len() * size);
            for &offset in &nodes {
                next.extend((0..size).map(|i| offset + i * strides[dim]));
            }
        }
        nodes = next;
    }
    if nodes.len() != values.len() {
        return Err(malformed(format!(
            "{context}: {} sparse values for {} stored",
            nodes.len(),
            values.len()
        )));
    }
    let mut dense = vec![0f32; total];
    for (&offset, &v) in nodes.iter().zip(&values) {
        let slot = dense
            .get_mut(offset)
            .ok_or_else(|| malformed(format!("{context}: sparse offset out of range")))?;
        *slot = v;
    }
    Ok(Constant::F32(dense))
}

fn activation(a: fb::ActivationFunctionType, context: &str) -> Result<Activation, Error> {
    match a {
        fb::ActivationFunctionType::NONE => Ok(Activation::None),
        fb::ActivationFunctionType::RELU => Ok(Activation::Relu),
        fb::ActivationFunctionType::RELU_N1_TO_1 => Ok(Activation::ReluN1To1),
        fb::ActivationFunctionType::RELU6 => Ok(Activation::Relu6),
        fb::ActivationFunctionType::TANH => Ok(Activation::Tanh),
        other => Err(Error::Unsupported(format!(
            "{context}: fused activation {other:?}"
        ))),
    }
}

fn positive(v: i32, what: &str, context: &str) -> Result<usize, Error> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| malformed(format!("{context}: {what} is {v}")))
}

fn window(
    padding: fb::Padding,
    stride: (i32, i32),
    dilation: (i32, i32),
    context: &str,
) -> Result<Window, Error> {
    let padding = match padding {
        fb::Padding::SAME => Padding::Same,
        fb::Padding::VALID => Padding::Valid,
        other => return Err(malformed(format!("{context}: padding {other:?}"))),
    };
    Ok(Window {
        padding,
        stride_h: positive(stride.0, "stride_h", context)?,
        stride_w: positive(stride.1, "stride_w", context)?,
        dilation_h: positive(dilation.0, "dilation_h", context)?,
        dilation_w: positive(dilation.1, "dilation_w", context)?,
    })
}

fn missing_options(context: &str) -> Error {
    malformed(format!("{context}: builtin options missing"))
}

fn op_kind(
    op: &fb::Operator<'_>,
    builtin: i32,
    custom: Option<&str>,
    context: &dyn Fn(&str) -> String,
) -> Result<OpKind, Error> {
    let kind = match builtin {
        code::CONV_2D => {
            let ctx = context("CONV_2D");
            let o = op
                .builtin_options_as_conv_2doptions()
                .ok_or_else(|| missing_options(&ctx))?;
            OpKind::Conv2d {
                window: window(
                    o.padding(),
                    (o.stride_h(), o.stride_w()),
                    (o.dilation_h_factor(), o.dilation_w_factor()),
                    &ctx,
                )?,
                activation: activation(o.fused_activation_function(), &ctx)?,
            }
        }
        code::DEPTHWISE_CONV_2D => {
            let ctx = context("DEPTHWISE_CONV_2D");
            let o = op
                .builtin_options_as_depthwise_conv_2doptions()
                .ok_or_else(|| missing_options(&ctx))?;
            // The multiplier is checked against the filter shape when the graph is built.
            OpKind::DepthwiseConv2d {
                window: window(
                    o.padding(),
                    (o.stride_h(), o.stride_w()),
                    (o.dilation_h_factor(), o.dilation_w_factor()),
                    &ctx,
                )?,
                activation: activation(o.fused_activation_function(), &ctx)?,
            }
        }
        code::MAX_POOL_2D | code::AVERAGE_POOL_2D => {
            let ctx = context("POOL_2D");
            let o = op
                .builtin_options_as_pool_2doptions()
                .ok_or_else(|| missing_options(&ctx))?;
            let window = window(o.padding(), (o.stride_h(), o.stride_w()), (1, 1), &ctx)?;
            let filter_h = positive(o.filter_height(), "filter_height", &ctx)?;
            let filter_w = positive(o.filter_width(), "filter_width", &ctx)?;
            let activation = activation(o.fused_activation_function(), &ctx)?;
            if builtin == code::MAX_POOL_2D {
                OpKind::MaxPool2d {
                    window,
                    filter_h,
                    filter_w,
                    activation,
                }
            } else {
                OpKind::AveragePool2d {
                    window,
                    filter_h,
                    filter_w,
                    activation,
                }
            }
        }
        code::ADD => {
            let ctx = context("ADD");
            let a = match op.builtin_options_as_add_options() {
                Some(o) => activation(o.fused_activation_function(), &ctx)?,
                None => Activation::None,
            };
            OpKind::Add(a)
        }
        code::MUL => {
            let ctx = context("MUL");
            let a = match op.builtin_options_as_mul_options() {
                Some(o) => activation(o.fused_activation_function(), &ctx)?,
                None => Activation::None,
            };
            OpKind::Mul(a)
        }
        code::PAD => OpKind::Pad,
        code::RESHAPE => OpKind::Reshape {
            new_shape: op
                .builtin_options_as_reshape_options()
                .and_then(|o| o.new_shape())
                .map(|s| s.iter().collect()),
        },
        code::CONCATENATION => {
            let ctx = context("CONCATENATION");
            let o = op
                .builtin_options_as_concatenation_options()
                .ok_or_else(|| missing_options(&ctx))?;
            OpKind::Concatenation {
                axis: o.axis(),
                activation: activation(o.fused_activation_function(), &ctx)?,
            }
        }
        code::RESIZE_BILINEAR => {
            let o = op.builtin_options_as_resize_bilinear_options();
            OpKind::ResizeBilinear {
                align_corners: o.is_some_and(|o| o.align_corners()),
                half_pixel_centers: o.is_some_and(|o| o.half_pixel_centers()),
            }
        }
        code::DEPTH_TO_SPACE => {
            let ctx = context("DEPTH_TO_SPACE");
            let o = op
                .builtin_options_as_depth_to_space_options()
                .ok_or_else(|| missing_options(&ctx))?;
            OpKind::DepthToSpace {
                block_size: positive(o.block_size(), "block_size", &ctx)?,
            }
        }
        code::RELU => OpKind::Activation(Activation::Relu),
        code::RELU6 => OpKind::Activation(Activation::Relu6),
        code::HARD_SWISH => OpKind::HardSwish,
        code::LOGISTIC => OpKind::Logistic,
        code::PRELU => OpKind::Prelu,
        code::CUSTOM if custom == Some(TRANSPOSE_CONV_BIAS) => {
            let ctx = context(TRANSPOSE_CONV_BIAS);
            OpKind::TransposeConvBias {
                window: transpose_conv_options(op.custom_options(), &ctx)?,
            }
        }
        code::CUSTOM => {
            return Err(Error::Unsupported(format!(
                "{}: custom op {:?}",
                context("CUSTOM"),
                custom.unwrap_or("<unnamed>")
            )))
        }
        other => {
            return Err(Error::Unsupported(format!(
                "{}: builtin operator code {other}",
                context("builtin")
            )))
        }
    };
    Ok(kind)
}

/// Mediapipe stores the custom op's options as a raw C struct
/// `TfLiteTransposeConvParams { TfLitePadding padding; int stride_width; int stride_height; }`
/// (little-endian int32s; padding 1 = SAME, 2 = VALID).
fn transpose_conv_options(options: Option<&[u8]>, context: &str) -> Result<Window, Error> {
    let bytes = options.unwrap_or(&[]);
    let word = |i: usize| -> Result<i32, Error> {
        bytes
            .get(i * 4..i * 4 + 4)
            .and_then(|w| w.try_into().ok())
            .map(i32::from_le_bytes)
            .ok_or_else(|| malformed(format!("{context}: custom options too short")))
    };
    let padding = match word(0)? {
        1 => fb::Padding::SAME,
        2 => fb::Padding::VALID,
        other => return Err(malformed(format!("{context}: padding {other}"))),
    };
    window(padding, (word(2)?, word(1)?), (1, 1), context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(parse(&[]).is_err());
        assert!(parse(b"abcdTFL3").is_err());
        let mut bytes = vec![0u8; 64];
        bytes[4..8].copy_from_slice(b"TFL3");
        bytes[0] = 200; // root offset past the end
        assert!(parse(&bytes).is_err());
    }

    #[test]
    fn truncated_real_model_is_an_error() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/face_detection_short_range.tflite"
        );
        let Ok(bytes) = std::fs::read(path) else {
            eprintln!("skipping: {path} missing");
            return;
        };
        for cut in [0, 7, 8, 100, 1000, bytes.len() / 2] {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut} parsed");
        }
        let parsed = parse(&bytes).expect("the real model parses");
        assert_eq!(parsed.inputs.len(), 1);
        assert_eq!(parsed.outputs.len(), 2);
    }
}
