# Captures bf16_mma_sync_m16n8k16_tiny.npz (categories tiny, deep) into $OUT; see ../README.md.
# Needs CuPy and an sm_90 GPU. Not run by any test.
import numpy as np, cupy as cp, os, datetime
src = r'''
extern "C" __global__ void k(const unsigned short*A,const unsigned short*B,const float*C,float*D){
 int t=blockIdx.x,l=threadIdx.x,g=l>>2,q=l&3;
 const unsigned short*a=A+t*256,*b=B+t*128; const float*c=C+t*128; float*d=D+t*128;
 unsigned ra[4],rb[2]; float rc[4],rd[4];
 for(int r=0;r<4;r++){int row=g+8*(r&1),col=q*2+8*(r>>1); ra[r]=a[row*16+col]|((unsigned)a[row*16+col+1]<<16);}
 for(int r=0;r<2;r++){int kk=q*2+8*r; rb[r]=b[kk*8+g]|((unsigned)b[(kk+1)*8+g]<<16);}
 for(int i=0;i<4;i++) rc[i]=c[(g+8*(i>>1))*8+q*2+(i&1)];
 asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3},{%4,%5,%6,%7},{%8,%9},{%10,%11,%12,%13};"
  :"=f"(rd[0]),"=f"(rd[1]),"=f"(rd[2]),"=f"(rd[3]):"r"(ra[0]),"r"(ra[1]),"r"(ra[2]),"r"(ra[3]),"r"(rb[0]),"r"(rb[1]),
   "f"(rc[0]),"f"(rc[1]),"f"(rc[2]),"f"(rc[3]));
 for(int i=0;i<4;i++) d[(g+8*(i>>1))*8+q*2+(i&1)]=rd[i];
}'''
kern = cp.RawKernel(src, 'k', options=('-arch=sm_90',))
rng = np.random.default_rng(20261123)
T = 1024
def bf16(shape, base):
    f = np.clip(base + rng.integers(0, 8, shape), 0, 254)
    f = np.where(rng.random(shape) < 0.1, 0, f)  # 10% subnormal
    s = rng.integers(0, 128, shape); s = np.where((f == 0) & (rng.random(shape) < 0.5), 0, s)  # some zeros
    return ((rng.integers(0, 2, shape) << 15) | (f << 7) | s).astype(np.uint16)
def run(A, B, C):
    dA, dB, dC = cp.asarray(A), cp.asarray(B), cp.asarray(C.view(np.float32))
    dD = cp.zeros((T, 16, 8), cp.float32)
    kern((T,), (32,), (dA, dB, dC, dD)); cp.cuda.runtime.deviceSynchronize()
    return cp.asnumpy(dD).view(np.uint32)
A = bf16((T, 16, 16), rng.integers(0, 56, (T, 1, 1)))
B = bf16((T, 16, 8), rng.integers(0, 56, (T, 1, 1)))
mode = rng.integers(0, 4, (T, 1, 1))
sign = rng.integers(0, 2, (T, 16, 8)).astype(np.uint32) << 31
sub = rng.integers(0, 1 << 23, (T, 16, 8)).astype(np.uint32)
nrm = (rng.integers(1, 12, (T, 16, 8)).astype(np.uint32) << 23) | sub
C = np.select([mode == 0, mode == 1, mode == 2], [np.zeros_like(sub), np.full_like(sub, 1 << 31), sign | sub], sign | nrm).astype(np.uint32)
arrs = dict(tiny_A=A, tiny_B=B, tiny_C=C, tiny_D=run(A, B, C))
# deep: C = +-0 (80%) or a small f32 subnormal; product top weights 2^-160 .. 2^-126.
ba = rng.integers(30, 70, (T, 1, 1)); tgt = rng.integers(93, 128, (T, 1, 1))
A = bf16((T, 16, 16), ba - 2); B = bf16((T, 16, 8), tgt - ba - 4)
C = np.where(rng.random((T, 16, 8)) < 0.8, sign, sign | (sub >> 14)).astype(np.uint32)
arrs.update(deep_A=A, deep_B=B, deep_C=C, deep_D=run(A, B, C))
out = os.environ['OUT']
np.savez_compressed(out + '/bf16_mma_sync_m16n8k16_tiny.npz', **arrs)
print(datetime.datetime.now(datetime.UTC), 'runtime', cp.cuda.runtime.runtimeGetVersion())
print({k: int(np.sum(v == 0x80000000)) for k, v in arrs.items() if k[-1] == 'D'})
