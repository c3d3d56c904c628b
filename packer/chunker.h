/*
 * Content-defined chunking (FastCDC with normalised chunking, gear hash).
 * The parameters and gear table are part of bundle format v1 (formats/BUNDLE.md):
 * changing them changes every chunk boundary and so every digest.
 */
#ifndef EP_CHUNKER_H
#define EP_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define EP_CDC_MIN ((size_t)256 << 10)
#define EP_CDC_AVG ((size_t)1 << 20)
#define EP_CDC_MAX ((size_t)4 << 20)

/*
 * Length of the next chunk at the start of p[0..n). The caller passes at
 * least EP_CDC_MAX bytes unless p holds the end of the stream, so that a
 * cut never depends on how the stream was read.
 */
size_t ep_cdc_cut(const uint8_t *p, size_t n);

#endif
