"""手写数字识别之数据读取: read MNIST's idx files with struct.

idx files are big-endian ('>').  Layout:

    train-images.idx3-ubyte                 train-labels.idx1-ubyte
    int32  magic number 2051 (0x00000803)   int32  magic number 2049 (0x00000801)
    int32  number of images N               int32  number of labels N
    int32  number of rows                   uint8  label, N times
    int32  number of columns
    uint8  pixel, N*rows*columns times (row by row, image by image)
"""
import struct

import numpy as np

file1 = "train-images.idx3-ubyte"
file2 = "train-labels.idx1-ubyte"


def train_images_ana(filepath):
    """解析图片数据集 .idx3-ubyte格式: int array of shape (N, rows*columns)."""
    # 以二进制方式读取文件
    with open(filepath, 'rb') as fbj:
        bin_data = fbj.read()
    # ********** Begin **********
    raise NotImplementedError("train_images_ana is not implemented yet: parse the idx3 file between Begin and End")
    # ********** End **********
    return img


def train_labels_ana(filepath):
    """解析标签数据集 .idx1-ubyte格式: int array of shape (N,)."""
    # 以二进制格式处理文件
    with open(filepath, 'rb') as fbj:
        bin_data = fbj.read()
    # ********** Begin **********
    raise NotImplementedError("train_labels_ana is not implemented yet: parse the idx1 file between Begin and End")
    # ********** End **********
    return label


if __name__ == '__main__':
    labels = train_labels_ana(file2)
    print(labels)
    imgs = train_images_ana(file1)
    print(np.shape(imgs[1]))
