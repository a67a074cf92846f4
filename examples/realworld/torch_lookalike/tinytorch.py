"""A PyTorch look-alike: Module, Parameter with .grad, nn-style layers, optim.Adam."""

import numpy as np


class Parameter:
    def __init__(self, data):
        self.data, self.grad = data, None


class Module:
    def parameters(self):
        return [v for v in vars(self).values() if isinstance(v, Parameter)]

    def __call__(self, x):
        return self.forward(x)


class Conv2d(Module):
    def __init__(self, weight, bias=None, stride=1, padding=0):
        self.weight = Parameter(weight)
        self.bias = None if bias is None else Parameter(bias)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        s, p = self.stride, self.padding
        O, _, kh, kw = self.weight.data.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        self.in_shape = x.shape
        Ho, Wo = (self.xp.shape[2] - kh) // s + 1, (self.xp.shape[3] - kw) // s + 1
        out = np.zeros((x.shape[0], O, Ho, Wo), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                patch = self.xp[:, :, i * s : i * s + kh, j * s : j * s + kw]
                out[:, :, i, j] = np.tensordot(patch, self.weight.data, axes=([1, 2, 3], [1, 2, 3]))
        return out if self.bias is None else out + self.bias.data[:, None, None]

    def backward(self, grad):
        s, p = self.stride, self.padding
        w = self.weight.data
        kh, kw = w.shape[2:]
        dxp, dw = np.zeros_like(self.xp), np.zeros_like(w)
        for i in range(grad.shape[2]):
            for j in range(grad.shape[3]):
                patch = self.xp[:, :, i * s : i * s + kh, j * s : j * s + kw]
                dw += np.tensordot(grad[:, :, i, j], patch, axes=(0, 0))
                dxp[:, :, i : i + kh, j : j + kw] += np.tensordot(grad[:, :, i, j], w, axes=(1, 0))
        self.weight.grad = dw
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=(0, 2, 3))
        H, W = self.in_shape[2:]
        return dxp[:, :, p : p + H, p : p + W]


class Linear(Module):
    def __init__(self, weight, bias=None):
        self.weight = Parameter(weight)
        self.bias = None if bias is None else Parameter(bias)

    def forward(self, x):
        self.x = x
        y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad):
        self.weight.grad = grad.T @ self.x
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=0)
        return grad @ self.weight.data


class ReLU(Module):
    def forward(self, x):
        self.x = x
        return np.where(x <= 0, 0, x)

    def backward(self, grad):
        return np.where(self.x <= 0, 0, grad)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        self.k, self.s = kernel_size, stride or kernel_size

    def forward(self, x):
        k, s = self.k, self.s
        N, C, H, W = x.shape
        Ho, Wo = H // s, W // s
        self.x, self.arg = x, np.zeros((N, C, Ho, Wo, 2), dtype=int)
        out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, :, i * s : i * s + k, j * s : j * s + k]
                flat = window.reshape(N, C, -1)
                idx = flat.argmax(axis=2)
                out[:, :, i, j] = np.take_along_axis(flat, idx[..., None], 2)[..., 0]
                r, q = np.divmod(idx, window.shape[3])
                self.arg[:, :, i, j] = np.stack([i * s + r, j * s + q], axis=-1)
        return out

    def backward(self, grad):
        dx = np.zeros_like(self.x)
        N, C = grad.shape[:2]
        n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
        for i in range(grad.shape[2]):
            for j in range(grad.shape[3]):
                r, q = self.arg[:, :, i, j, 0], self.arg[:, :, i, j, 1]
                np.add.at(dx, (n, c, r, q), grad[:, :, i, j])
        return dx


class Flatten(Module):
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self.shape)


class CrossEntropyLoss(Module):
    def forward(self, logits, target):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p, self.onehot = np.exp(log_p), np.eye(logits.shape[1])[target]
        return -(self.onehot * log_p).sum(axis=1).mean()

    def backward(self):
        return (self.p - self.onehot) / len(self.p)


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.state = {id(p): (np.zeros_like(p.data), np.zeros_like(p.data)) for p in params}
        self.step_count = 0

    def step(self):
        b1, b2 = self.betas
        for p in self.params:
            self.step_count += 1
            m, v = self.state[id(p)]
            m[...] = b1 * m + (1 - b1) * p.grad
            v[...] = b2 * v + (1 - b2) * p.grad**2
            m_hat = m / (1 - b1**self.step_count)
            v_hat = v / (1 - b2**self.step_count)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
