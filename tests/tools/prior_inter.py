#!/usr/bin/env python3
"""Initial probabilities of the inter contexts: writes lib/jpeg/model_prior_inter.h.

Training (a scratch copy of the tree, never the real build). The patch applies to commit
b20c061 (the contexts and their order have not changed since; later commits changed only
the mechanics around them): `git worktree add /tmp/train-src b20c061`, then there:
  patch -p1 < tests/tools/prior_inter_train.patch     # records each inter context's bits
  cmake -S . -B /tmp/train -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-DJCM_TRAIN
  cmake --build /tmp/train --target inter_bench
  for s in 2 3 4 5 6 7 8 9; do
    JCM_TRAIN_OUT=s$s.bin /tmp/train/inter_bench -s -k 4 -n 32 -S $s; done
  JCM_TRAIN_OUT=c.bin /tmp/train/inter_bench -k 4 corpus/timelapse/00{000..149}.jpg  # also writes c.bin.c
  tests/tools/prior_inter.py s?.bin c.bin --src lib/jpeg/model_block.c --out lib/jpeg/model_prior_inter.h

Each .bin holds, for every ac_prob of jcm_ictx (in declaration order) and its first 16
uses in a band (the 16th: all later ones), how many bits 0 and 1 were coded there
(uint32, native order), counted only in the luma bands whose inter stream was kept; NAME.c
beside it the same for the chroma bands. Each table has one set per class [luma, chroma]. A table
entry is the frequency of 0 in the first M uses of the contexts it stands for, shrunk
towards a coarser prior (the intra prior of the same kind, or the pooled frequency) with
the weight of A uses. FIELDS must match jcm_ictx in lib/jpeg/model.h.
"""
import argparse, array, itertools, re, sys

FIELDS = [
 ("skip",[32]),("mode",[16]),("nz77",[50,4,64]),("ac_eq",[49,4,4,4,4]),("ac_eqp",[4,4,4,4]),
 ("ac_exp",[49,4,2,12,16]),("ac_sign",[49,11]),("ac_expp",[4,2,12,16]),("ac_signp",[11]),
 ("d_sign",[49,4,4,4]),("d_signp",[4,4,4]),("d_exp",[49,4,2,12,16]),("d_expp",[4,2,12,16]),
 ("nze",[2,8,9,3,8]),("ed_eq",[2,7,4,4,4,4]),("ed_eqp",[2,4,4,4,4]),("ed_exp",[2,7,4,12,16]),
 ("ed_dsign",[2,4,4,4,4]),("ed_dexp",[2,7,2,16,16]),("ed_dexpp",[2,2,16,16]),("d_mant",[2,17,16]),
 ("dc_eq",[4,12]),("dc_exp",[14,16]),("dc_sign",[14,3])]
def size(d):
  n=1
  for x in d: n*=x
  return n
OFF={}
o=0
for name,d in FIELDS:
  OFF[name]=(o,d); o+=size(d)
NTOT=o
TU=16
def load(files):
  tot=None
  for f in files:
    a=array.array('I')
    with open(f,'rb') as fh: a.frombytes(fh.read())
    if len(a)!=NTOT*TU*2: sys.exit('%s: %d counts, jcm_ictx needs %d: FIELDS out of date?'%(f,len(a),NTOT*TU*2))
    if tot is None: tot=a
    else:
      for i in range(len(a)): tot[i]+=a[i]
  return tot

ap=argparse.ArgumentParser(description='inter context priors from training counts')
ap.add_argument('counts',nargs='+')
ap.add_argument('--M',type=int,default=8)      # first M uses of each context
ap.add_argument('--A',type=float,default=8.0)  # shrinkage weight toward the coarser prior
ap.add_argument('--out',default='lib/jpeg/model_prior_inter.h')
ap.add_argument('--src',default='lib/jpeg/model_block.c')
args=ap.parse_args()
src=open(args.src).read()
def ctab(name):
  m=re.search(r'static const uint16_t '+name+r'\[[^=]*= \{(.*?)\n\};',src,re.S)
  rows=re.findall(r'\{([0-9, ]+)\}',m.group(1))
  return [[int(x) for x in r.split(',')] for r in rows]
prior_ac=ctab('prior_ac'); prior_ed=ctab('prior_ed'); prior_nz=ctab('prior_nz'); prior_ne=ctab('prior_ne')
nzb_tab=[0,1,2,3,4,5,5,6,6,7,7,7,8,8,8,8,9,9,9,9,9,10,10,10,10,10,10,10]+[11]*22
M=args.M; A=args.A
def compute(c):
  def zn(field, idx):
    o,d=OFF[field]
    flat=0
    for x,dim in zip(idx,d): flat=flat*dim+x
    b=(o+flat)*TU*2
    z=n=0
    for u in range(M):
      z+=c[b+2*u]; n+=c[b+2*u]+c[b+2*u+1]
    return z,n
  def shrink(z,n,prior):
    p=(z*65536.0+A*prior)/(n+A)
    p=int(round(p))
    return max(48,min(65536-48,p))
  def table(field, shape, members, coarse):
    """shape: pooled table dims; members(idx) -> list of full indices pooled; coarse(idx) -> prior p0."""
    out=[]
    for idx in itertools.product(*[range(x) for x in shape]):
      z=n=0
      for full in members(idx):
        a,b=zn(field,full); z+=a; n+=b
      out.append(shrink(z,n,coarse(idx)))
    return out
  def pooled_parent(field, shape):
    # the coarser prior of a table without one of its own: the field's pooled frequency
    z=n=0
    o,d=OFF[field]
    for idx in itertools.product(*[range(x) for x in d]):
      a,b=zn(field,idx); z+=a; n+=b
    return 32768 if n==0 else shrink(z,n,32768)
  T={}
  def simple(field):
    d=OFF[field][1]
    cp=pooled_parent(field,d)
    T[field]=(d,table(field,d,lambda idx:[idx],lambda idx:cp))
  for f in ["skip","mode","ac_eqp","ac_signp","d_signp","ed_eqp","ed_dsign","dc_eq","dc_sign"]:
    simple(f)
  # exponent-like tables: coarse = pooled over everything except the bit index
  def exp_coarse(field, shape):
    d=OFF[field][1]; nb=d[-1]
    pool=[]
    for i in range(nb):
      z=n=0
      for idx in itertools.product(*[range(x) for x in d[:-1]]):
        a,b=zn(field,idx+(i,)); z+=a; n+=b
      pool.append(32768 if n==0 else shrink(z,n,32768))
    return pool
  for f in ["d_expp","ed_dexpp","dc_exp"]:
    d=OFF[f][1]; pool=exp_coarse(f,d)
    T[f]=(d,table(f,d,lambda idx:[idx],lambda idx,pool=pool:pool[idx[-1]]))
  # ac_expp [4][2][12][16]: toward prior_ac[b][i]
  d=OFF["ac_expp"][1]
  T["ac_expp"]=(d,table("ac_expp",d,lambda idx:[idx],lambda idx:prior_ac[idx[2]][idx[3]]))
  # ed_exp [2][7][4][12][16] pooled over t -> [2][4][12][16], toward prior_ed[b][i]
  T["ed_exp"]=([2,4,12,16],table("ed_exp",[2,4,12,16],lambda idx:[(idx[0],t)+idx[1:] for t in range(7)],lambda idx:prior_ed[idx[2]][idx[3]]))
  # nz77 [50][4][64] pooled over c2 -> [50][64], toward prior_nz[nzb_tab[r]][i]
  T["nz77"]=([50,64],table("nz77",[50,64],lambda idx:[(idx[0],b,idx[1]) for b in range(4)],lambda idx:prior_nz[nzb_tab[idx[0]]][idx[1]]))
  # nze [2][8][9][3][8] full, toward prior_ne[b][i]
  d=OFF["nze"][1]
  T["nze"]=(d,table("nze",d,lambda idx:[idx],lambda idx:prior_ne[idx[2]][idx[4]]))

  return T

def fmt(name, d, vals):
  """A C table of shape d: one line per innermost row, braces per outer dimension."""
  def rec(off, dims, ind):
    if len(dims)==1:
      return ' '*ind+'{'+', '.join(str(v) for v in vals[off:off+dims[0]])+'}'
    step=1
    for x in dims[1:]: step*=x
    inner=',\n'.join(rec(off+k*step,dims[1:],ind+2) for k in range(dims[0]))
    return ' '*ind+'{\n'+inner+'\n'+' '*ind+'}'
  s='static const uint16_t pri_%s%s = {\n'%(name,''.join('[%d]'%x for x in d))
  if len(d)==1:
    s+='    '+', '.join(str(v) for v in vals)+',\n'
  else:
    step=1
    for x in d[1:]: step*=x
    s+=',\n'.join(rec(k*step,d[1:],4) for k in range(d[0]))+',\n'
  return s+'};\n'
order=["skip","mode","nz77","ac_eqp","ac_expp","ac_signp","d_signp","d_expp","nze","ed_eqp","ed_exp","ed_dsign","ed_dexpp","dc_eq","dc_exp","dc_sign"]
h=open(args.out,'w')
h.write("""/* Initial probabilities of the inter contexts (jcm_ictx_init in model_block.c), generated
 * by tests/tools/prior_inter.py (its comment says how) from the contexts' first %d uses in
 * training streams: timelapse_gen scenes (seeds) 2-9, 32 frames each, and corpus/timelapse
 * 00000-00149, each frame against up to 4 previous ones (not the scene of the tests' and
 * the benchmarks' default, seed 1). P(bit == 0) * 65536, each the frequency of 0 in those
 * uses, shrunk towards a coarser prior with the weight of %g uses. First index: [0] luma
 * bands, [1] chroma bands. */
#ifndef IMS_JPEG_MODEL_PRIOR_INTER_H
#define IMS_JPEG_MODEL_PRIOR_INTER_H

#include <stdint.h>

"""%(M,A))
TL=compute(load(args.counts))
TC=compute(load([f+'.c' for f in args.counts]))
for f in order:
  d,v=TL[f]
  h.write(fmt(f,[2]+list(d),v+TC[f][1]))
h.write("\n#endif\n")
h.close()

