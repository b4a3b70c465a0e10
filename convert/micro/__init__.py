"""TensorFlow Lite Micro export: C++ source of the int8 model, a measured tensor arena, parity.

`export` writes `model_data.h/.cc` and the report; `model` reads a .tflite flatbuffer with
TensorFlow Lite's schema and lists the operators it needs of TFLM, `arena` measures the tensor
arena with TFLM's own interpreter, `parity` compares TFLM's outputs with LiteRT's, `source`
renders the C++, and `command` registers `edgesign micro`.
"""
