// What an edgesign firmware does around the TFLite Micro interpreter: fill the int8 input from
// the gray pixels with the bundle's own table, and read the class and its confidence from the
// int8 scores. Header-only and free of TFLM headers, so the same code runs in the Arduino
// sketch (edgesign_sign/edgesign_sign.ino) and in the host check (host_check.cc) that the test
// suite compiles and compares with the Pi's Python code (edgesign.device.recognize).
//
// Include it after generating model_data.h / model_data.cc with `edgesign micro` (or
// `make micro`) and putting them on the include path.
//
// Scope: one view, the whole region. The Pi may average several views of a frame (a realworld
// bundle: up to seven, see the views comment in model_data.h); a firmware that wants the same
// runs the model once per view and averages the dequantized scores before taking the class.

#ifndef EDGESIGN_CLASSIFY_H_
#define EDGESIGN_CLASSIFY_H_

#include <cstdint>

#include "model_data.h"

namespace edgesign_classify {

// Pixels of one model input image: kInputHeight x kInputWidth x kInputChannels, row by row.
constexpr int kInputPixels =
    edgesign_model::kInputHeight * edgesign_model::kInputWidth * edgesign_model::kInputChannels;

// gray: kInputPixels 8-bit gray pixels, already preprocessed as the Pi does (region of
// interest, resize, contrast: model_data.h states the bundle's preprocessing).
// input: the interpreter's int8 input tensor (interpreter->input(0)->data.int8).
inline void FillInput(const uint8_t* gray, int8_t* input) {
  for (int i = 0; i < kInputPixels; ++i) {
    input[i] = static_cast<int8_t>(edgesign_model::kInputTable[gray[i]]);
  }
}

// The index of the largest of kClassCount int8 scores; the first one on a tie.
inline int ArgMax(const int8_t* scores) {
  int best = 0;
  for (int c = 1; c < edgesign_model::kClassCount; ++c) {
    if (scores[c] > scores[best]) best = c;
  }
  return best;
}

// An int8 score as its real value: (q - zero_point) * scale. edgesign models end in a
// softmax, so this is the class probability (in steps of kOutputScale, 1/256).
inline float Dequantize(int8_t score) {
  return static_cast<float>(score - edgesign_model::kOutputZeroPoint) *
         edgesign_model::kOutputScale;
}

struct Result {
  int index;           // class index, in the model's output order
  const char* name;    // edgesign_model::kClassNames[index]
  float confidence;    // its dequantized score
};

// scores: the interpreter's int8 output tensor (interpreter->output(0)->data.int8).
inline Result Classify(const int8_t* scores) {
  const int best = ArgMax(scores);
  return Result{best, edgesign_model::kClassNames[best], Dequantize(scores[best])};
}

}  // namespace edgesign_classify

#endif  // EDGESIGN_CLASSIFY_H_
