// model_check.cpp: checks gpu/kernels/tc_model.h (the harness's C++ model of one tensor-core
// step) against real H100 captures, chaining the steps of the `_x2` files through the
// accumulator. Inputs come from model_check.sh, which converts the .npz captures to a flat
// binary: per category int32 {tiles, m, k, n}, then A (u16), B (u16), C (u32), D (u32).
// Usage: model_check b|f FILE.bin   (b: bf16 inputs, f: f16 inputs)
#include "../../gpu/kernels/tc_model.h"
#include <cstdio>
#include <vector>
int main(int argc,char**argv){
  bool bf16 = argv[1][0]=='b';
  FILE*f=fopen(argv[2],"rb"); int hdr[4]; long tot=0,bad=0,nanbad=0;
  while(fread(hdr,4,4,f)==4){int t=hdr[0],m=hdr[1],k=hdr[2],n=hdr[3];
    std::vector<uint16_t>A((size_t)t*m*k),B((size_t)t*k*n);std::vector<uint32_t>C((size_t)t*m*n),D((size_t)t*m*n);
    fread(A.data(),2,A.size(),f);fread(B.data(),2,B.size(),f);fread(C.data(),4,C.size(),f);fread(D.data(),4,D.size(),f);
    for(int ti=0;ti<t;ti++)for(int i=0;i<m;i++)for(int j=0;j<n;j++){
      float acc=f32_of_bits(C[((size_t)ti*m+i)*n+j]);
      for(int k0=0;k0<k;k0+=16){uint16_t a[16],b[16];for(int q=0;q<16;q++){a[q]=A[((size_t)ti*m+i)*k+k0+q];b[q]=B[((size_t)ti*k+k0+q)*n+j];}
        acc=model_step(acc,a,b,16,bf16);}
      uint32_t got=bits_of_f32(acc),want=D[((size_t)ti*m+i)*n+j]; tot++;
      if(got!=want){ if(bad<5)printf("mismatch t%d (%d,%d) model %08x hw %08x\n",ti,i,j,got,want); bad++;}
    }}
  printf("%s: %ld elements, %ld mismatches (exact bits incl NaN payload)\n",argv[2],tot,bad);
  return bad ? 1 : 0;
}
