// edgesign on an Arduino board with TensorFlow Lite Micro: classify one gray image per loop.
//
// Set-up: install a TensorFlow Lite Micro library for your board (for example
// Arduino_TensorFlowLite for the Nano 33 BLE / Portenta, or your vendor's port). Generate the
// model with `edgesign micro --bundle BUNDLE --out OUT --arduino` and copy OUT/model_data.h,
// OUT/model_data.cpp and ../edgesign_classify.h into this sketch folder.
//
// `gray` is where your camera code puts the preprocessed image: crop the region of interest,
// resize to kInputWidth x kInputHeight, convert to 8-bit gray (model_data.h states the bundle's
// preprocessing). Until then it classifies a blank image.

#if __has_include(<TensorFlowLite.h>)
#include <TensorFlowLite.h>  // the library's main header in Arduino ports; the name varies
#endif
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "edgesign_classify.h"
#include "model_data.h"

namespace {

alignas(16) uint8_t tensor_arena[edgesign_model::kTensorArenaSize];
tflite::MicroMutableOpResolver<edgesign_model::kOpCount> resolver;
tflite::MicroInterpreter* interpreter = nullptr;
uint8_t gray[edgesign_classify::kInputPixels];

}  // namespace

void setup() {
  Serial.begin(115200);
  if (!edgesign_model::RegisterOps(resolver)) {
    Serial.println("RegisterOps failed");
    return;
  }
  static tflite::MicroInterpreter instance(tflite::GetModel(edgesign_model::kModel), resolver,
                                           tensor_arena, sizeof(tensor_arena));
  if (instance.AllocateTensors() != kTfLiteOk) {
    Serial.println("tensor arena too small");
    return;
  }
  interpreter = &instance;
  Serial.print("arena used: ");
  Serial.println(static_cast<unsigned long>(interpreter->arena_used_bytes()));
}

void loop() {
  if (interpreter == nullptr) return;
  edgesign_classify::FillInput(gray, interpreter->input(0)->data.int8);
  if (interpreter->Invoke() != kTfLiteOk) {
    Serial.println("Invoke failed");
    return;
  }
  const edgesign_classify::Result result =
      edgesign_classify::Classify(interpreter->output(0)->data.int8);
  Serial.print(result.name);
  Serial.print(' ');
  Serial.println(result.confidence);
}
