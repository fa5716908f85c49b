//! Executable graph: ops over tensor slots, run on a candle [`Device`] for any batch size.
//!
//! Weights are prepared once at build time in the layout each kernel wants (convolution
//! filters as `[kh*kw*cin, cout]` matrices for a single matrix product over all pixels of the
//! batch); activations stay NHWC from input to output.

use candle_core::{DType, Device, Tensor};

use super::ops::{
    is_channel_vector, Binary, BinaryKind, Conv, DepthwiseConv, Epilogue, Im2col, Pad4, Pointwise,
    Pool, PoolKind, ResidualConv, ResizeBilinear, TransposeConv,
};
use super::tflite::{Activation, Constant, FlatModel, OpKind, Operation, Padding, TensorDesc};
use super::{Error, TensorInfo};

/// A prepared op.
#[derive(Debug)]
enum Op {
    Conv(Conv),
    /// A convolution and the residual ADD of its output, folded (inputs: data, skip branch).
    ResidualConv(ResidualConv),
    Depthwise(DepthwiseConv),
    TransposeConv(TransposeConv),
    /// ADD or MUL of two inputs of one shape (the second maybe a folded channel pad).
    Binary(Binary),
    /// ADD or MUL where one input broadcasts over the other.
    Broadcast(BinaryKind, Activation),
    Pad(Vec<(usize, usize)>),
    /// Target shape (a pass is one image, so batch 1 as stored).
    Reshape(Vec<usize>),
    Concat {
        axis: usize,
        activation: Activation,
    },
    Pool(Pool),
    Resize(ResizeBilinear),
    DepthToSpace(usize),
    Pointwise(Pointwise),
}

#[derive(Debug)]
struct Step {
    op: Op,
    name: &'static str,
    index: usize,
    inputs: Vec<usize>,
    output: usize,
    /// Slots whose last reader is this step; freed after it runs.
    release: Vec<usize>,
}

/// An executable model graph bound to a device.
#[derive(Debug)]
pub struct Graph {
    device: Device,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    constants: Vec<(usize, Tensor)>,
    steps: Vec<Step>,
    slot_count: usize,
}

fn info(desc: &TensorDesc) -> TensorInfo {
    TensorInfo {
        name: desc.name.clone(),
        shape: desc.shape.clone(),
    }
}

struct Builder<'a> {
    model: &'a FlatModel,
    context: String,
}

impl Builder<'_> {
    fn malformed(&self, msg: impl std::fmt::Display) -> Error {
        Error::Malformed(format!("{}: {msg}", self.context))
    }

    fn desc(&self, op: &Operation, i: usize) -> Result<&TensorDesc, Error> {
        op.inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|t| self.model.tensors.get(t))
            .ok_or_else(|| self.malformed(format!("input {i} missing")))
    }

    fn f32_const(&self, op: &Operation, i: usize) -> Result<(&[f32], &[usize]), Error> {
        let desc = self.desc(op, i)?;
        match &desc.constant {
            Some(Constant::F32(v)) => Ok((v, &desc.shape)),
            _ => Err(Error::Unsupported(format!(
                "{}: input {i} ({}) must be a constant f32 tensor",
                self.context, desc.name
            ))),
        }
    }

    fn i32_const(&self, op: &Operation, i: usize) -> Result<&[i32], Error> {
        let desc = self.desc(op, i)?;
        match &desc.constant {
            Some(Constant::I32(v)) => Ok(v),
            _ => Err(Error::Unsupported(format!(
                "{}: input {i} ({}) must be a constant int32 tensor",
                self.context, desc.name
            ))),
        }
    }

    /// Optional bias input; zeros when omitted.
    fn bias(&self, op: &Operation, i: usize, channels: usize) -> Result<Vec<f32>, Error> {
        if op.inputs.get(i).copied().flatten().is_none() {
            return Ok(vec![0.0; channels]);
        }
        let (bias, _) = self.f32_const(op, i)?;
        if bias.len() != channels {
            return Err(self.malformed(format!(
                "bias has {} values for {channels} channels",
                bias.len()
            )));
        }
        Ok(bias.to_vec())
    }

    fn filter4(&self, op: &Operation) -> Result<(&[f32], [usize; 4]), Error> {
        let (values, shape) = self.f32_const(op, 1)?;
        match *shape {
            [a, b, c, d] => Ok((values, [a, b, c, d])),
            _ => Err(self.malformed(format!("filter shape {shape:?} is not 4-D"))),
        }
    }

    /// ADD or MUL: one pass when the two inputs are activations of one shape, candle's
    /// broadcast otherwise (a constant keeps its stored batch of 1 at any batch size).
    fn binary(
        &self,
        op: &Operation,
        kind: BinaryKind,
        activation: Activation,
    ) -> Result<Op, Error> {
        let (a, b) = (self.desc(op, 0)?, self.desc(op, 1)?);
        let same = a.shape == b.shape && a.constant.is_none() && b.constant.is_none();
        // A tensor and one value per channel (a squeeze-and-excite scale): one pass too.
        let channels = |d: &TensorDesc| d.shape.last().copied();
        let per_channel = !same
            && a.shape.len() == 4
            && b.shape.len() == 4
            && channels(a) == channels(b)
            && is_channel_vector(&a.shape) != is_channel_vector(&b.shape);
        Ok(if same || per_channel {
            Op::Binary(Binary {
                kind,
                channel_offset: 0,
                epilogue: Epilogue::Activation(activation),
                per_channel,
            })
        } else {
            Op::Broadcast(kind, activation)
        })
    }

    fn output_shape(&self, op: &Operation) -> Result<&[usize], Error> {
        op.outputs
            .first()
            .and_then(|&t| self.model.tensors.get(t))
            .map(|d| d.shape.as_slice())
            .ok_or_else(|| self.malformed("output missing"))
    }

    fn prepare(&self, op: &Operation) -> Result<Op, Error> {
        let prepared = match &op.kind {
            OpKind::Conv2d { window, activation } => {
                let (filter, [cout, kh, kw, cin]) = self.filter4(op)?;
                let k = kh * kw * cin;
                // OHWI flattened is [cout, k]; the product wants [k, cout].
                let mut matrix = vec![0f32; k * cout];
                for (o, row) in filter.chunks_exact(k.max(1)).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        matrix[j * cout + o] = v;
                    }
                }
                let pointwise = kh == 1 && kw == 1 && window.stride_h == 1 && window.stride_w == 1;
                Op::Conv(Conv::new(
                    matrix,
                    self.bias(op, 2, cout)?,
                    (!pointwise).then_some(Im2col {
                        kh,
                        kw,
                        window: *window,
                        extra_pad: [0; 4],
                    }),
                    Epilogue::Activation(*activation),
                ))
            }
            OpKind::DepthwiseConv2d { window, activation } => {
                let (filter, [one, kh, kw, channels]) = self.filter4(op)?;
                let input_channels = self.desc(op, 0)?.shape.last().copied();
                if one != 1 || input_channels != Some(channels) {
                    return Err(Error::Unsupported(format!(
                        "{}: depthwise filter {:?} for {input_channels:?} input channels (only depth multiplier 1)",
                        self.context,
                        [one, kh, kw, channels]
                    )));
                }
                Op::Depthwise(DepthwiseConv {
                    weights: filter.to_vec(),
                    bias: self.bias(op, 2, channels)?,
                    kh,
                    kw,
                    window: *window,
                    extra_pad: [0; 4],
                    activation: *activation,
                })
            }
            OpKind::TransposeConvBias { window } => {
                let (filter, [cout, kh, kw, cin]) = self.filter4(op)?;
                let patch = kh * kw * cout;
                // OHWI -> [cin, (ky, kx, o)].
                let mut matrix = vec![0f32; cin * patch];
                for (idx, &v) in filter.iter().enumerate() {
                    let i = idx % cin;
                    let kx = (idx / cin) % kw;
                    let ky = (idx / (cin * kw)) % kh;
                    let o = idx / (cin * kw * kh);
                    matrix[i * patch + (ky * kw + kx) * cout + o] = v;
                }
                Op::TransposeConv(TransposeConv::new(
                    matrix,
                    self.bias(op, 2, cout)?,
                    kh,
                    kw,
                    *window,
                ))
            }
            OpKind::Add(a) => self.binary(op, BinaryKind::Add, *a)?,
            OpKind::Mul(a) => self.binary(op, BinaryKind::Mul, *a)?,
            OpKind::Pad => {
                let pads = self.i32_const(op, 1)?;
                let pairs = pads
                    .chunks_exact(2)
                    .map(|p| match (usize::try_from(p[0]), usize::try_from(p[1])) {
                        (Ok(a), Ok(b)) => Ok((a, b)),
                        _ => Err(self.malformed(format!("negative padding {p:?}"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if pairs.first().is_some_and(|&p| p != (0, 0)) {
                    return Err(Error::Unsupported(format!(
                        "{}: padding the batch dimension",
                        self.context
                    )));
                }
                Op::Pad(pairs)
            }
            OpKind::Reshape { new_shape } => {
                let mut target = self.output_shape(op)?.to_vec();
                if target.is_empty() {
                    if let Some(shape) = new_shape {
                        target = shape
                            .iter()
                            .map(|&d| usize::try_from(d).unwrap_or(1))
                            .collect();
                    }
                }
                if target.first().copied() != Some(1) {
                    return Err(Error::Unsupported(format!(
                        "{}: reshape to {target:?} does not keep the batch first",
                        self.context
                    )));
                }
                Op::Reshape(target)
            }
            OpKind::Concatenation { axis, activation } => {
                let rank = self.output_shape(op)?.len() as i64;
                let axis = i64::from(*axis);
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(1..rank).contains(&axis) {
                    return Err(Error::Unsupported(format!(
                        "{}: concatenation on axis {axis} of rank {rank}",
                        self.context
                    )));
                }
                Op::Concat {
                    axis: axis as usize,
                    activation: *activation,
                }
            }
            OpKind::MaxPool2d {
                window,
                filter_h,
                filter_w,
                activation,
            }
            | OpKind::AveragePool2d {
                window,
                filter_h,
                filter_w,
                activation,
            } => Op::Pool(Pool {
                kind: if matches!(op.kind, OpKind::MaxPool2d { .. }) {
                    PoolKind::Max
                } else {
                    PoolKind::Average
                },
                kh: *filter_h,
                kw: *filter_w,
                window: *window,
                activation: *activation,
            }),
            OpKind::ResizeBilinear {
                align_corners,
                half_pixel_centers,
            } => {
                let size = self.i32_const(op, 1)?;
                let (Some(&h), Some(&w)) = (size.first(), size.get(1)) else {
                    return Err(self.malformed("resize size needs 2 values"));
                };
                let (Ok(out_h), Ok(out_w)) = (usize::try_from(h), usize::try_from(w)) else {
                    return Err(self.malformed(format!("resize to {h}x{w}")));
                };
                Op::Resize(ResizeBilinear {
                    out_h,
                    out_w,
                    align_corners: *align_corners,
                    half_pixel_centers: *half_pixel_centers,
                })
            }
            OpKind::DepthToSpace { block_size } => Op::DepthToSpace(*block_size),
            OpKind::Activation(a) => Op::Pointwise(Pointwise(Epilogue::Activation(*a))),
            OpKind::HardSwish => Op::Pointwise(Pointwise(Epilogue::HardSwish)),
            OpKind::Logistic => Op::Pointwise(Pointwise(Epilogue::Logistic)),
            OpKind::Prelu => {
                let (alpha, shape) = self.f32_const(op, 1)?;
                let channels = shape.last().copied().unwrap_or(0);
                if alpha.len() != channels {
                    return Err(Error::Unsupported(format!(
                        "{}: PRELU alpha of shape {shape:?} (only per-channel alpha)",
                        self.context
                    )));
                }
                Op::Pointwise(Pointwise(Epilogue::Prelu(alpha.to_vec())))
            }
        };
        Ok(prepared)
    }

    /// Indices of the inputs that carry data at run time (weights are folded into the op).
    fn data_inputs(&self, op: &Operation) -> Result<Vec<usize>, Error> {
        let count = match op.kind {
            OpKind::Add(_) | OpKind::Mul(_) => 2,
            OpKind::Concatenation { .. } => op.inputs.len(),
            _ => 1,
        };
        (0..count)
            .map(|i| {
                op.inputs
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or_else(|| self.malformed(format!("input {i} missing")))
            })
            .collect()
    }
}

impl Graph {
    /// Prepares a parsed model for `device`.
    pub fn build(model: FlatModel, device: &Device) -> Result<Graph, Error> {
        let mut steps = Vec::with_capacity(model.operations.len());
        let mut needed_constants = Vec::new();
        for (index, op) in model.operations.iter().enumerate() {
            let builder = Builder {
                model: &model,
                context: format!("op {index} ({})", op.kind.name()),
            };
            let prepared = builder.prepare(op)?;
            let inputs = builder.data_inputs(op)?;
            for &i in &inputs {
                if model.tensors.get(i).is_some_and(|t| t.constant.is_some()) {
                    needed_constants.push(i);
                }
            }
            let output = match op.outputs.as_slice() {
                [o] => *o,
                other => {
                    return Err(builder.malformed(format!("{} outputs (expected 1)", other.len())))
                }
            };
            steps.push(Step {
                op: prepared,
                name: op.kind.name(),
                index,
                inputs,
                output,
                release: Vec::new(),
            });
        }
        let steps = fold_pads(steps, &model.outputs);
        let steps = fold_channel_pads(steps, &model.outputs);
        let steps = fold_epilogues(steps, &model.outputs);
        let mut steps = fold_residuals(steps, &model.outputs);
        needed_constants.sort_unstable();
        needed_constants.dedup();
        let mut constants = Vec::new();
        for i in needed_constants {
            let desc = &model.tensors[i];
            let tensor = match &desc.constant {
                Some(Constant::F32(v)) => {
                    Tensor::from_vec(v.clone(), desc.shape.as_slice(), device)
                }
                Some(Constant::I32(v)) => Tensor::from_vec(
                    v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                    desc.shape.as_slice(),
                    device,
                ),
                None => continue,
            }
            .map_err(Error::tensor(format!("constant {}", desc.name)))?;
            constants.push((i, tensor));
        }
        // Free each intermediate after its last reader; graph outputs are kept.
        let mut last_use = vec![None; model.tensors.len()];
        for (s, step) in steps.iter().enumerate() {
            for &i in &step.inputs {
                last_use[i] = Some(s);
            }
        }
        for &o in &model.outputs {
            last_use[o] = None;
        }
        for &(c, _) in &constants {
            last_use[c] = None;
        }
        for (slot, last) in last_use.iter().enumerate() {
            if let Some(s) = last {
                steps[*s].release.push(slot);
            }
        }
        let inputs: Vec<TensorInfo> = model
            .inputs
            .iter()
            .map(|&i| info(&model.tensors[i]))
            .collect();
        if inputs.iter().any(|i| i.shape.first() != Some(&1)) {
            return Err(Error::Unsupported(
                "model inputs must be stored with batch 1".into(),
            ));
        }
        Ok(Graph {
            device: device.clone(),
            outputs: model
                .outputs
                .iter()
                .map(|&i| info(&model.tensors[i]))
                .collect(),
            inputs,
            input_slots: model.inputs.clone(),
            output_slots: model.outputs.clone(),
            constants,
            steps,
            slot_count: model.tensors.len(),
        })
    }

    /// Graph inputs (stored shapes, batch 1).
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// Graph outputs (stored shapes, batch 1).
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Device the graph runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the graph on NHWC f32 inputs of any common batch size.
    ///
    /// A batch runs image by image: each op's output for one image fits in a core's L2 cache,
    /// for sixteen it does not, and measured on these models every image of a 16-batch pass took
    /// 1.3-1.6x as long as a pass of its own. What batching saves is around the graph (queueing,
    /// thread hand-offs), not inside it.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Input(format!(
                "{} inputs given, the model takes {}",
                inputs.len(),
                self.inputs.len()
            )));
        }
        let mut batch = None;
        let mut on_device = Vec::with_capacity(inputs.len());
        for (tensor, info) in inputs.iter().zip(&self.inputs) {
            let dims = tensor.dims();
            let n = dims.first().copied().unwrap_or(0);
            if n == 0 || dims.len() != info.shape.len() || dims[1..] != info.shape[1..] {
                return Err(Error::Input(format!(
                    "input {} has shape {dims:?}, expected [N, {}] with N >= 1",
                    info.name,
                    info.shape[1..]
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if *batch.get_or_insert(n) != n {
                return Err(Error::Input("inputs have different batch sizes".into()));
            }
            if tensor.dtype() != DType::F32 {
                return Err(Error::Input(format!(
                    "input {} must be f32, got {:?}",
                    info.name,
                    tensor.dtype()
                )));
            }
            on_device.push(
                tensor
                    .to_device(&self.device)
                    .and_then(|t| t.contiguous())
                    .map_err(Error::tensor(format!(
                        "moving input {} to the device",
                        info.name
                    )))?,
            );
        }
        let batch = batch.unwrap_or(1);
        if batch == 1 {
            return self.pass(on_device);
        }
        let mut outputs = vec![Vec::with_capacity(batch); self.outputs.len()];
        for i in 0..batch {
            let images = on_device
                .iter()
                .map(|t| t.narrow(0, i, 1))
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(Error::tensor(format!("image {i} of the batch")))?;
            for (all, one) in outputs.iter_mut().zip(self.pass(images)?) {
                all.push(one);
            }
        }
        outputs
            .iter()
            .map(|images| Tensor::cat(images, 0).map_err(Error::tensor("joining the batch")))
            .collect()
    }

    /// One pass of the graph over one image's inputs, in graph input order.
    fn pass(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let mut slots: Vec<Option<Tensor>> = vec![None; self.slot_count];
        for (tensor, &slot) in inputs.into_iter().zip(&self.input_slots) {
            slots[slot] = Some(tensor);
        }
        for (slot, tensor) in &self.constants {
            slots[*slot] = Some(tensor.clone());
        }
        for step in &self.steps {
            let args = step
                .inputs
                .iter()
                .map(|&i| slots[i].as_ref())
                .collect::<Option<Vec<&Tensor>>>()
                .ok_or_else(|| {
                    Error::Malformed(format!(
                        "op {} ({}) reads a tensor no earlier op wrote",
                        step.index, step.name
                    ))
                })?;
            let out = run(&step.op, &args)
                .map_err(Error::tensor(format!("op {} ({})", step.index, step.name)))?;
            slots[step.output] = Some(out);
            for &r in &step.release {
                slots[r] = None;
            }
        }
        self.output_slots
            .iter()
            .map(|&o| {
                slots[o]
                    .take()
                    .ok_or_else(|| Error::Malformed(format!("output tensor {o} is never written")))
            })
            .collect()
    }
}

/// Folds a spatial PAD into the VALID convolution that is its only reader, so the padded
/// copy of the activation is never made (the pose models pad before every stride-2 conv).
fn fold_pads(mut steps: Vec<Step>, graph_outputs: &[usize]) -> Vec<Step> {
    let mut removed = vec![false; steps.len()];
    for p in 0..steps.len() {
        let Op::Pad(pairs) = &steps[p].op else {
            continue;
        };
        let [(0, 0), (top, bottom), (left, right), (0, 0)] = pairs.as_slice() else {
            continue;
        };
        let extra = [*top, *bottom, *left, *right];
        let (padded, source) = (steps[p].output, steps[p].inputs.first().copied());
        let Some(source) = source else {
            continue;
        };
        let Some(reader) = only_reader(&steps, padded, graph_outputs) else {
            continue;
        };
        let target = match &mut steps[reader].op {
            Op::Depthwise(dw) if dw.window.padding == Padding::Valid && dw.extra_pad == [0; 4] => {
                &mut dw.extra_pad
            }
            Op::Conv(Conv {
                patches: Some(im2col),
                ..
            }) if im2col.window.padding == Padding::Valid && im2col.extra_pad == [0; 4] => {
                &mut im2col.extra_pad
            }
            _ => continue,
        };
        *target = extra;
        for input in &mut steps[reader].inputs {
            if *input == padded {
                *input = source;
            }
        }
        removed[p] = true;
    }
    without(steps, &removed)
}

/// The one step that reads `slot`, if exactly one does and `slot` is not a graph output.
fn only_reader(steps: &[Step], slot: usize, graph_outputs: &[usize]) -> Option<usize> {
    let mut readers = (0..steps.len()).filter(|&s| steps[s].inputs.contains(&slot));
    match (readers.next(), readers.next()) {
        (Some(reader), None) if !graph_outputs.contains(&slot) => Some(reader),
        _ => None,
    }
}

/// Drops the steps marked `removed`.
fn without(steps: Vec<Step>, removed: &[bool]) -> Vec<Step> {
    steps
        .into_iter()
        .zip(removed)
        .filter_map(|(step, &gone)| (!gone).then_some(step))
        .collect()
}

/// Folds a channel-only PAD into the same-shape ADD that is its only reader, so the padded
/// copy is never made (the face models widen residual branches this way).
fn fold_channel_pads(mut steps: Vec<Step>, graph_outputs: &[usize]) -> Vec<Step> {
    let mut removed = vec![false; steps.len()];
    for p in 0..steps.len() {
        let Op::Pad(pairs) = &steps[p].op else {
            continue;
        };
        let [(0, 0), (0, 0), (0, 0), (before, _)] = pairs.as_slice() else {
            continue;
        };
        let (before, padded) = (*before, steps[p].output);
        let Some(source) = steps[p].inputs.first().copied() else {
            continue;
        };
        let Some(reader) = only_reader(&steps, padded, graph_outputs) else {
            continue;
        };
        let add = &mut steps[reader];
        let (Op::Binary(binary), [a, b]) = (&mut add.op, add.inputs.as_mut_slice()) else {
            continue;
        };
        if binary.kind != BinaryKind::Add
            || binary.channel_offset != 0
            || binary.per_channel
            || a == b
        {
            continue;
        }
        // The padded input goes second; ADD commutes.
        if *a == padded {
            std::mem::swap(a, b);
        }
        *b = source;
        binary.channel_offset = before;
        removed[p] = true;
    }
    without(steps, &removed)
}

/// Folds an activation or PRELU op into the convolution or element-wise op before it, when
/// that op has no fused activation of its own and the activation is its only reader: the
/// activation then runs on each tile while it is in cache instead of as another pass.
fn fold_epilogues(mut steps: Vec<Step>, graph_outputs: &[usize]) -> Vec<Step> {
    let mut removed = vec![false; steps.len()];
    for s in 0..steps.len() {
        let produced = steps[s].output;
        let Some(reader) = only_reader(&steps, produced, graph_outputs) else {
            continue;
        };
        let epilogue = match &steps[reader].op {
            Op::Pointwise(Pointwise(epilogue)) => epilogue.clone(),
            _ => continue,
        };
        let (Op::Conv(Conv { epilogue: slot, .. }) | Op::Binary(Binary { epilogue: slot, .. })) =
            &mut steps[s].op
        else {
            continue;
        };
        if *slot != Epilogue::Activation(Activation::None) {
            continue;
        }
        *slot = epilogue;
        steps[s].output = steps[reader].output;
        removed[reader] = true;
    }
    without(steps, &removed)
}

/// Folds a residual ADD into the convolution whose output it adds to, when the ADD is that
/// output's only reader and the convolution has no activation of its own: the skip branch is
/// then added to each output tile in cache and the ADD's pass over memory disappears (the
/// face models end every block so, and ADDs took 15 % of face_landmark). The folded step
/// runs where the ADD ran, when both of its inputs exist.
fn fold_residuals(mut steps: Vec<Step>, graph_outputs: &[usize]) -> Vec<Step> {
    let mut removed = vec![false; steps.len()];
    for s in 0..steps.len() {
        let (Op::Binary(add), [a, b]) = (&steps[s].op, steps[s].inputs.as_slice()) else {
            continue;
        };
        if add.kind != BinaryKind::Add || add.per_channel || a == b {
            continue;
        }
        let (a, b) = (*a, *b);
        // With a channel offset only the first (wider) input can be the convolution.
        let candidates = if add.channel_offset == 0 {
            vec![(a, b), (b, a)]
        } else {
            vec![(a, b)]
        };
        let found = candidates.into_iter().find_map(|(conv_out, skip)| {
            let p = (0..s).find(|&p| !removed[p] && steps[p].output == conv_out)?;
            let (Op::Conv(conv), [data]) = (&steps[p].op, steps[p].inputs.as_slice()) else {
                return None;
            };
            let plain = conv.epilogue == Epilogue::Activation(Activation::None);
            (plain && only_reader(&steps, conv_out, graph_outputs) == Some(s))
                .then_some((p, *data, skip))
        });
        let Some((p, data, skip)) = found else {
            continue;
        };
        // Step `p` is dropped below; its op moves into the fused step.
        let placeholder = Op::Pointwise(Pointwise(Epilogue::Activation(Activation::None)));
        let taken = std::mem::replace(&mut steps[p].op, placeholder);
        let (Op::Binary(add), Op::Conv(mut conv)) = (&steps[s].op, taken) else {
            continue;
        };
        conv.epilogue = add.epilogue.clone();
        let fused = ResidualConv {
            channel_offset: add.channel_offset,
            conv,
        };
        steps[s].op = Op::ResidualConv(fused);
        steps[s].name = steps[p].name;
        steps[s].inputs = vec![data, skip];
        removed[p] = true;
    }
    without(steps, &removed)
}

fn first<'a>(args: &[&'a Tensor]) -> candle_core::Result<&'a Tensor> {
    args.first()
        .copied()
        .ok_or_else(|| candle_core::Error::Msg("missing input".into()))
}

fn second<'a>(args: &[&'a Tensor]) -> candle_core::Result<&'a Tensor> {
    args.get(1)
        .copied()
        .ok_or_else(|| candle_core::Error::Msg("missing second input".into()))
}

fn activated(t: Tensor, activation: Activation) -> candle_core::Result<Tensor> {
    match activation {
        Activation::None => Ok(t),
        a => t.apply_op1_no_bwd(&Pointwise(Epilogue::Activation(a))),
    }
}

fn run(op: &Op, args: &[&Tensor]) -> candle_core::Result<Tensor> {
    let x = first(args)?;
    match op {
        Op::Conv(conv) => x.apply_op1_no_bwd(conv),
        Op::ResidualConv(rc) => x.apply_op2_no_bwd(second(args)?, rc),
        Op::Depthwise(dw) => x.apply_op1_no_bwd(dw),
        Op::TransposeConv(tc) => x.apply_op1_no_bwd(tc),
        Op::Binary(binary) => x.apply_op2_no_bwd(second(args)?, binary),
        Op::Broadcast(BinaryKind::Add, a) => activated(x.broadcast_add(second(args)?)?, *a),
        Op::Broadcast(BinaryKind::Mul, a) => activated(x.broadcast_mul(second(args)?)?, *a),
        Op::Pad(pairs) => {
            if let [(0, 0), height, width, channels] = pairs.as_slice() {
                return x.apply_op1_no_bwd(&Pad4 {
                    height: *height,
                    width: *width,
                    channels: *channels,
                });
            }
            let mut t = x.clone();
            for (dim, &(before, after)) in pairs.iter().enumerate() {
                if before + after > 0 {
                    t = t.pad_with_zeros(dim, before, after)?;
                }
            }
            Ok(t)
        }
        Op::Reshape(target) => x.reshape(target.as_slice()),
        Op::Concat { axis, activation } => activated(Tensor::cat(args, *axis)?, *activation),
        Op::Pool(pool) => x.apply_op1_no_bwd(pool),
        Op::Resize(resize) => x.apply_op1_no_bwd(resize),
        Op::DepthToSpace(block) => {
            let (n, h, w, c) = x.dims4()?;
            let b = *block;
            if !c.is_multiple_of(b * b) {
                return Err(candle_core::Error::Msg(format!(
                    "{c} channels not divisible by {b}x{b}"
                )));
            }
            let cout = c / (b * b);
            // TFLite order: channel index = (by * b + bx) * cout + c.
            x.reshape((n * h, w, b, b, cout))?
                .permute((0, 2, 1, 3, 4))?
                .contiguous()?
                .reshape((n, h * b, w * b, cout))
        }
        Op::Pointwise(p) => x.apply_op1_no_bwd(p),
    }
}
